/**
 * Sweep options, their defaults and report, the sweep lock's name, and the observer events a
 * metrics exporter receives.
 */
import type { DisconnectCause } from './types.js'
import { ageOption } from './validate.js'

/** What {@link Warden.sweep} removes, and how old a record must be. */
export interface SweepOptions {
  /**
   * Sweep session records not touched for `sessionStaleMs`: connections that ended without a
   * clean close, and every connection of an instance that stopped refreshing (crashed).
   * @default true
   */
  readonly sessions?: boolean
  /** Sweep consumed token ids that expired `tokenAgeMs` ago. @default true */
  readonly tokens?: boolean
  /** Sweep rate-limit windows that ended `rateLimitAgeMs` ago. @default true */
  readonly rateLimits?: boolean
  /**
   * How long a session record may go untouched. Live connections are touched once per heartbeat
   * interval, so this must be comfortably more than one interval.
   * @default 3 heartbeat intervals (75000 with the default heartbeat)
   */
  readonly sessionStaleMs?: number
  /** @default 300000 (5 minutes past expiry, like the original package's `--token-age=300`) */
  readonly tokenAgeMs?: number
  /** @default 604800000 (7 days) */
  readonly rateLimitAgeMs?: number
}

/** Records removed by one sweep, per kind. */
export interface SweepReport {
  readonly sessions: number
  readonly tokens: number
  readonly rateLimits: number
  readonly durationMs: number
}

/** The in-process sweeper: `sweep(...)` on a timer, one instance at a time through a lock. */
export interface SweeperOptions extends SweepOptions {
  /**
   * How often this instance tries to sweep. Of all instances sharing the lock store, one sweeps
   * at a time. `false` (as the whole `sweeper` option) turns the sweeper off.
   * @default 300000
   */
  readonly intervalMs?: number
}

/** The lock every instance takes before sweeping. */
export const SWEEP_LOCK = 'sweep'

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

/** Sweep options with defaults applied and validated. */
export function resolveSweep(
  options: SweepOptions,
  heartbeatIntervalMs: number,
  owner = 'sweep',
): Required<SweepOptions> {
  return {
    sessions: options.sessions ?? true,
    tokens: options.tokens ?? true,
    rateLimits: options.rateLimits ?? true,
    sessionStaleMs: ageOption(
      `${owner}.sessionStaleMs`,
      options.sessionStaleMs,
      3 * heartbeatIntervalMs,
    ),
    tokenAgeMs: ageOption(`${owner}.tokenAgeMs`, options.tokenAgeMs, 300_000),
    rateLimitAgeMs: ageOption(
      `${owner}.rateLimitAgeMs`,
      options.rateLimitAgeMs,
      7 * 24 * 3_600_000,
    ),
  }
}
