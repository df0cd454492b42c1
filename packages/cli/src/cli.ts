/**
 * The command dispatcher: picks the command from argv, prints the general help and version, and
 * turns every failure into one line on stderr and an exit code.
 *
 * @module
 */
import { createRequire } from 'node:module'
import { wantsHelp } from './args.js'
import { cleanup } from './commands/cleanup.js'
import type { Command, CommandContext, Output } from './commands/context.js'
import { STORE_ENV } from './commands/context.js'
import { migrate } from './commands/migrate.js'
import { stats } from './commands/stats.js'
import { CliError, ExitCode, UsageError, messageOf } from './errors.js'
import { scrub } from './store-url.js'
import type { MemoryStores } from './stores/index.js'

/** Where {@link runCli} writes, what it reads, and what `memory:` stands for. */
export interface RunCliOptions {
  /** @default process.stdout */
  readonly stdout?: Output | undefined
  /** @default process.stderr */
  readonly stderr?: Output | undefined
  /** Environment variables (`WS_WARDEN_STORE`). @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** The stores `memory:` stands for (tests, embedding). @default fresh empty memory stores */
  readonly memoryStores?: MemoryStores | undefined
}

const COMMANDS: readonly Command[] = [cleanup, migrate, stats]

/** The CLI's version, from its package.json. */
export const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string })
  .version

const HELP = `Usage: ws-warden <command> [options]

Operations for ws-warden's stores: sweep stale records, create SQL tables, read cluster counts.

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(9)}${command.summary}`).join('\n')}

Options:
  -h, --help             this help; ws-warden <command> --help for a command's
  -V, --version          the version

Every command takes --store <url> (or $${STORE_ENV}): memory:, redis://, rediss://,
postgres://, postgresql://, mysql:// or mariadb://.

Exit codes: 0 done, 1 the command failed, 2 bad arguments, 3 store unreachable
`

/**
 * Runs `ws-warden` with `argv` (the arguments after the program name) and resolves its exit code;
 * never rejects. Results go to `stdout`, errors to `stderr` as one line, passwords redacted.
 */
export async function runCli(
  argv: readonly string[],
  options: RunCliOptions = {},
): Promise<number> {
  const context: CommandContext = {
    stdout: options.stdout ?? process.stdout,
    stderr: options.stderr ?? process.stderr,
    env: options.env ?? process.env,
    memory: options.memoryStores,
    secrets: [],
  }
  const [first, ...rest] = argv
  const command = COMMANDS.find((candidate) => candidate.name === first)
  try {
    if (command !== undefined) {
      if (wantsHelp(rest)) return help(context, command.help)
      return await command.run(rest, context)
    }
    return await tool(first, rest, context)
  } catch (error) {
    const where = command === undefined ? 'ws-warden' : `ws-warden ${command.name}`
    const message = scrub(messageOf(error), context.secrets)
    const hint =
      error instanceof UsageError
        ? ` (see ws-warden${error.command ? ` ${error.command}` : ''} --help)`
        : ''
    context.stderr.write(`${where}: ${message}${hint}\n`)
    return error instanceof CliError ? error.exitCode : ExitCode.failure
  }
}

/** What the tool does without a command: help, version, `help <command>`, or a usage error. */
async function tool(first: string | undefined, rest: string[], context: CommandContext) {
  switch (first) {
    case '-h':
    case '--help':
      return help(context, HELP)
    case 'help': {
      const topic = COMMANDS.find((command) => command.name === rest[0])
      if (rest.length > 0 && topic === undefined) {
        throw new UsageError(`no help for '${rest[0]}': it is not a command`)
      }
      return help(context, topic?.help ?? HELP)
    }
    case '-V':
    case '--version':
      context.stdout.write(`${VERSION}\n`)
      return ExitCode.ok
    case undefined:
      context.stderr.write(HELP)
      return ExitCode.usage
    default:
      throw new UsageError(
        first.startsWith('-') ? `unknown option ${first}` : `unknown command '${first}'`,
      )
  }
}

function help(context: CommandContext, text: string): number {
  context.stdout.write(text)
  return ExitCode.ok
}
