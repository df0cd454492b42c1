/**
 * `ws-warden`, the operations command of ws-warden, and the same as a library: `runCli(argv)`
 * runs it in process (tests, scripts) and resolves its exit code.
 *
 * ```ts
 * import { runCli } from '@ws-warden/cli'
 *
 * process.exitCode = await runCli(['cleanup', '--dry-run', '--store', 'redis://127.0.0.1:6379'])
 * ```
 *
 * @packageDocumentation
 */
export { runCli, VERSION, type RunCliOptions } from './cli.js'
export { CliError, ExitCode, StoreUnreachableError, UsageError } from './errors.js'
export type { ExitCodeValue } from './errors.js'
export type { CleanupKind, CleanupReport } from './commands/cleanup.js'
export type { MigrateReport } from './commands/migrate.js'
export type { StatsReport } from './commands/stats.js'
export type { Output } from './commands/context.js'
export type { MemoryStores } from './stores/index.js'
export { parseDuration, formatDuration } from './args.js'
export { redactUrl } from './store-url.js'
