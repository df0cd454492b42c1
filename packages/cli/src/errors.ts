/**
 * The exit codes of `ws-warden`, and the errors that carry them. Every failure ends as one line on
 * stderr and one of these codes, so a cron job or a CI step can tell a typo from an outage.
 *
 * @module
 */

/** The exit codes of `ws-warden`: what a script or CI step can tell apart. */
export const ExitCode = {
  /** The command did what it was asked. */
  ok: 0,
  /** The command ran and failed (a store error mid-command, a dry run the store cannot do). */
  failure: 1,
  /** Bad arguments: an unknown command or option, a bad value, a bad or unsuitable store URL. */
  usage: 2,
  /** The store could not be reached within `--timeout` (refused, timed out, bad credentials). */
  unreachable: 3,
} as const

/** One of {@link ExitCode}'s values. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** A failure the CLI reports as one line, with the exit code it ends with. */
export class CliError extends Error {
  override readonly name: string = 'CliError'

  constructor(
    message: string,
    /** The process exit code this error ends the command with. */
    readonly exitCode: ExitCodeValue = ExitCode.failure,
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}

/** Bad arguments (exit code 2). `command` names the help to point at. */
export class UsageError extends CliError {
  override readonly name: string = 'UsageError'

  constructor(
    message: string,
    /** The command whose `--help` would have helped; undefined for the tool itself. */
    readonly command?: string,
  ) {
    super(message, ExitCode.usage)
  }
}

/** The store did not answer within the connect timeout (exit code 3). */
export class StoreUnreachableError extends CliError {
  override readonly name: string = 'StoreUnreachableError'

  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.unreachable, options)
  }
}

/**
 * The first line of any thrown value's message, without the libraries' `ws-warden: ` prefix. An
 * empty message (Node's `AggregateError` for a refused connection to every address of a host)
 * falls back to the first inner error, then to the error's `code`, then to its name.
 */
export function messageOf(error: unknown): string {
  let message = String(error)
  if (error instanceof Error) {
    const inner = error instanceof AggregateError ? (error.errors[0] as unknown) : undefined
    const code = (error as { code?: unknown }).code
    message =
      error.message ||
      (inner === undefined ? '' : messageOf(inner)) ||
      (typeof code === 'string' ? code : error.name)
  }
  return (message.split('\n')[0] as string).replace(/^ws-warden: /, '')
}
