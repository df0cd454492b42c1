/**
 * The observer events a metrics exporter (or any observer) receives through `warden.observe()`,
 * and the fixed sets their reasons come from.
 *
 * @module
 */
import type { SweepReport } from './sweep.js'
import type { DisconnectCause } from './types.js'

/**
 * Why a message was dropped: `rate_limited` (inbound, the connection's message bucket was
 * empty), `backlog_full` (inbound, too many messages waiting behind a running async handler),
 * `slow_consumer` (outbound, the frame would have passed `send.maxBufferedBytes`, or the frames
 * held while a session starts were too many; the connection is cut off).
 */
export type DropReason = 'rate_limited' | 'backlog_full' | 'slow_consumer'

/**
 * How a resumption ended. Succeeded: `complete` (every missed frame replayed), `incomplete`
 * (some were no longer kept, or a channel was refused). Failed, the client got a fresh session
 * instead: `malformed` (the `ws_resume` parameter does not parse), `unknown` (no such session:
 * expired, already resumed, or never existed), `wrong_user`, `invalid_state` (its stored state
 * does not decode), `store_unavailable` (a store failed during the claim or the replay; the
 * handshake is refused or the connection closed with 1013), `disconnected` (the connection
 * ended before its replay was ready).
 */
export type ResumeOutcome =
  | 'complete'
  | 'incomplete'
  | 'malformed'
  | 'unknown'
  | 'wrong_user'
  | 'invalid_state'
  | 'store_unavailable'
  | 'disconnected'

/** Events a metrics exporter (or any observer) receives; see `warden.observe()`. */
export interface WardenObserver {
  admitted?(durationMs: number): void
  rejected?(reason: string, durationMs: number): void
  connected?(): void
  disconnected?(cause: DisconnectCause): void
  received?(bytes: number): void
  sent?(bytes: number): void
  /** A message was dropped (not handled, or not sent). */
  dropped?(reason: DropReason): void
  /** A handshake asked to resume a session (resumption on). */
  resumed?(outcome: ResumeOutcome): void
  /** A store call settled, answered or not; `store` as the `stores` option names it. */
  storeCall?(store: string, operation: string, durationMs: number): void
  storeError?(store: string): void
  swept?(report: SweepReport): void
}
