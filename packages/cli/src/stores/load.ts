/**
 * Loading the optional store packages and drivers (a missing one is an error that says what to
 * install), and the time bound on a store's first answer.
 *
 * @module
 */
import { formatDuration } from '../args.js'
import { CliError, StoreUnreachableError, messageOf } from '../errors.js'
import { scrub, type StoreUrl } from '../store-url.js'

/**
 * Imports a module the store needs (a store package or its driver, optional peers of the CLI),
 * turning "not installed" into a {@link CliError} that says what to install.
 */
export async function importOptional<T>(specifier: string): Promise<T> {
  try {
    return (await import(specifier)) as T
  } catch (error) {
    // Node says ERR_MODULE_NOT_FOUND, but loaders (tsx) may not: the message is what is stable.
    const missing = /^Cannot find (?:package|module) '([^']+)'/.exec(messageOf(error))?.[1]
    if (missing === undefined) throw error
    const name = missing.startsWith('@') ? missing : (missing.split('/')[0] as string)
    throw new CliError(`this store needs the package ${name}: install it next to ws-warden`)
  }
}

/** What {@link bounded} rejects with when time is up. */
export class NoAnswerError extends Error {
  override readonly name = 'NoAnswerError'
}

/** Rejects with a {@link NoAnswerError} if `promise` has not settled within `ms`. */
export function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new NoAnswerError(`no answer within ${formatDuration(ms)}`)),
      ms,
    )
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * The error for a store that did not answer: its redacted URL and the driver's reason, scrubbed
 * of the password (or "no answer within <timeout>" when the driver gave none).
 */
export function unreachable(
  url: StoreUrl,
  timeoutMs: number,
  cause: unknown,
): StoreUnreachableError {
  const reason =
    cause === undefined
      ? `no answer within ${formatDuration(timeoutMs)}`
      : scrub(messageOf(cause), url.secrets)
  return new StoreUnreachableError(`cannot reach ${url.redacted}: ${reason}`, { cause })
}
