/**
 * Reconnect decisions: the count of consecutive failed attempts (a connection open for
 * `backoff.stableAfterMs` starts it over) and, when an attempt or a connection ends, whether to
 * try again (the close code's policy, `maxAttempts`) and after which backoff delay.
 *
 * @module
 */
import { reconnectPolicy } from '@ws-warden/protocol'
import { backoffDelay } from './backoff.js'
import type { ResolvedOptions } from './options.js'

/** The failure count and the reconnect policy applied to it. */
export class Retries {
  /** Consecutive failed attempts (never opened, or not open for `stableAfterMs`). */
  private failures = 0
  private openedAt = 0

  constructor(private readonly options: ResolvedOptions) {}

  /** Attempts since the last stable connection, the current (or next) one included. */
  get attempt(): number {
    return this.failures + 1
  }

  /** The connection opened now. */
  opened(): void {
    this.openedAt = this.options.timers.now()
  }

  /**
   * Counts an attempt or connection that ended with `code` (`wasOpen`: it had opened); returns
   * the delay before the next attempt, or undefined when the client is to stop.
   */
  ended(code: number, wasOpen: boolean): number | undefined {
    const { timers, backoff, maxAttempts, random } = this.options
    const stable = wasOpen && timers.now() - this.openedAt >= backoff.stableAfterMs
    if (stable) this.failures = 0
    else this.failures++
    const policy = reconnectPolicy(code)
    if (policy === 'stop' || this.failures >= maxAttempts) return undefined
    return backoffDelay(backoff, policy, this.failures, random)
  }
}
