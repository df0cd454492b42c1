/**
 * Reconnect backoff: its options and defaults, and the capped full-jitter delay before each
 * attempt.
 *
 * @module
 */
import type { ReconnectPolicy } from '@ws-warden/protocol'

/** How long to wait between connection attempts. */
export interface BackoffOptions {
  /**
   * The first retry waits a random time below this; each failure doubles (× `factor`) the bound.
   * @default 500
   */
  readonly initialDelayMs?: number
  /**
   * The bound never grows past this.
   * @default 30000
   */
  readonly maxDelayMs?: number
  /**
   * How much the bound grows with each consecutive failure.
   * @default 2
   */
  readonly factor?: number
  /**
   * After a "reconnect now" close (4200–4299, 1001, 1012) of a connection that was up and stable,
   * the client still waits a random time below this, so that a server's restart does not bring
   * every client back in the same millisecond.
   * @default 1000
   */
  readonly immediateJitterMs?: number
  /**
   * A connection that stayed open this long counts as a success: the failure count starts over.
   * A shorter one counts as a failure, so a server that accepts and then drops every connection
   * is retried with growing delays, not in a loop.
   * @default 5000
   */
  readonly stableAfterMs?: number
}

export type ResolvedBackoff = Required<BackoffOptions>

/**
 * The delay before the next attempt: "full jitter", a uniform random time in `[0, bound)` where
 * `bound = min(maxDelayMs, initialDelayMs × factor^failures)`. `failures` counts the consecutive
 * failures before this one (0 for the first retry). A "now" policy after a stable connection
 * (`failures` 0) waits below `immediateJitterMs` instead.
 */
export function backoffDelay(
  options: ResolvedBackoff,
  policy: Exclude<ReconnectPolicy, 'stop'>,
  failures: number,
  random: () => number,
): number {
  if (policy === 'now' && failures === 0) {
    return Math.floor(random() * options.immediateJitterMs)
  }
  const bound = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** failures)
  return Math.floor(random() * bound)
}
