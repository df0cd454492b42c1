/**
 * Command-line arguments: strict option parsing for every command, the options shared by the
 * commands that talk to a store, `--help` detection, and durations (`30s`, `5m`) in and out.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { UsageError } from './errors.js'

/** The options of one command, in `node:util` `parseArgs` form. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>

/** What `parseArgs` makes of `spec`: every value is a string, a boolean or absent. */
export type ParsedOptions = Record<string, string | boolean | undefined>

/** The options every command that talks to a store takes. */
export const storeOptions = {
  store: { type: 'string' },
  prefix: { type: 'string' },
  schema: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpec

/**
 * Parses a command's arguments strictly: no positionals, no unknown options, a value for every
 * string option. `node:util`'s errors become one-line {@link UsageError}s naming the command.
 */
export function parseOptions(command: string, spec: OptionSpec, args: string[]): ParsedOptions {
  try {
    const { values } = parseArgs({ args, options: spec, strict: true, allowPositionals: false })
    return values as ParsedOptions
  } catch (error) {
    throw new UsageError(describeParseError(command, error), command)
  }
}

/**
 * A short message for one of `parseArgs`' errors in strict mode: an unknown option, a positional,
 * or an option's value (missing, or given to a boolean).
 */
function describeParseError(command: string, error: unknown): string {
  const { code, message } = error as { code?: string; message: string }
  // Every such message quotes the option or argument: "Unknown option '--bogus'".
  const quoted = String(message.split("'")[1])
  // `'-h, --help'` and `'--store <value>'` name the option in its long form.
  const option = /--[\w-]+/.exec(quoted)?.[0] ?? quoted
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option} for ${command}`
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return `unexpected argument ${quoted} for ${command}`
  }
  return message.includes('does not take an argument')
    ? `${option} takes no value`
    : `${option} needs a value (write ${option}=<value> for one that starts with -)`
}

/** Whether `args` ask for help (`-h` or `--help` before a `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h')
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
type Unit = keyof typeof UNIT_MS

/**
 * A duration in milliseconds from `300` (seconds), `300s`, `5m`, `12h`, `7d` or `1500ms`: a
 * whole number and an optional unit. Anything else is a {@link UsageError} naming `flag`.
 */
export function parseDuration(flag: string, value: string, command: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim())
  const ms = match ? Number(match[1]) * UNIT_MS[(match[2] ?? 's') as Unit] : NaN
  if (!Number.isSafeInteger(ms)) {
    throw new UsageError(
      `${flag} must be a whole number of seconds or a duration like 300s, 5m, 12h or 7d, got '${value}'`,
      command,
    )
  }
  return ms
}

/** A duration in its largest exact unit (`75000` → `75s`, `604800000` → `7d`), for output. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`
  }
  return `${ms}ms`
}
