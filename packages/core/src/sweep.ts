/**
 * Sweep options, their defaults and report, and the sweep lock's name.
 *
 * @module
 */
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
