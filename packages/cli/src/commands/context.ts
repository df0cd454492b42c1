/**
 * What every command shares: the command shape, where it writes, the store URL and its options
 * from flags or `WS_WARDEN_STORE`, the default timeout, and the plain-text table format.
 *
 * @module
 */
import { parseDuration, type ParsedOptions } from '../args.js'
import { UsageError } from '../errors.js'
import type { ConnectOptions, MemoryStores } from '../stores/index.js'

/** Where a command writes: anything with `write(string)` (a stream, or a test's buffer). */
export interface Output {
  write(chunk: string): unknown
}

/** What a command runs with. */
export interface CommandContext {
  readonly stdout: Output
  readonly stderr: Output
  /** Environment variables (`WS_WARDEN_STORE`). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** What `memory:` stands for. */
  readonly memory?: MemoryStores | undefined
  /** Secrets seen so far (passwords from store URLs), scrubbed from anything printed. */
  readonly secrets: string[]
}

/** One `ws-warden` command. */
export interface Command {
  readonly name: string
  /** One line for the tool's help. */
  readonly summary: string
  /** The command's `--help`. */
  readonly help: string
  /** Runs the command with the arguments after its name; resolves the exit code. */
  run(args: string[], context: CommandContext): Promise<number>
}

/** The environment variable `--store` defaults to, so that a password stays out of `ps`. */
export const STORE_ENV = 'WS_WARDEN_STORE'

/** The default of `--timeout`. */
export const DEFAULT_TIMEOUT_MS = 5000

/** The store URL and connect options from `--store`, `--prefix`, `--schema` and `--timeout`. */
export function storeArguments(
  command: string,
  values: ParsedOptions,
  context: CommandContext,
): { readonly raw: string; readonly options: ConnectOptions } {
  const raw = (values.store as string | undefined) ?? context.env[STORE_ENV]
  if (raw === undefined || raw === '') {
    throw new UsageError(`--store <url> is required (or set ${STORE_ENV})`, command)
  }
  const timeoutMs =
    values.timeout === undefined
      ? DEFAULT_TIMEOUT_MS
      : parseDuration('--timeout', values.timeout as string, command)
  if (timeoutMs === 0) throw new UsageError('--timeout must be more than 0', command)
  const options: ConnectOptions = {
    prefix: values.prefix as string | undefined,
    schema: values.schema as string | undefined,
    timeoutMs,
    memory: context.memory,
    command,
  }
  return { raw, options }
}

/** The lines of a two-column table, the first column padded to its widest cell. */
export function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...rows.map(([left]) => left.length))
  return rows.map(([left, right]) => `${left.padEnd(width)}  ${right}\n`).join('')
}

/** The help lines of the store options every command shares. */
export const STORE_HELP = `Store:
  --store <url>          memory:, redis://, rediss://, postgres://, postgresql://, mysql://,
                         mariadb:// (default: $${STORE_ENV}, which keeps a password out of ps)
  --prefix <prefix>      key or table prefix (default: the store's own, ws_warden for Redis,
                         ws_warden_ for SQL)
  --schema <schema>      PostgreSQL only: the schema of the tables (default: the search_path)
  --timeout <duration>   how long to wait for the store to answer (default 5s)
  -h, --help             this help

Exit codes: 0 done, 1 the command failed, 2 bad arguments, 3 store unreachable`
