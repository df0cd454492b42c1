/**
 * Resumption's options: how long a lost session stays resumable and how many frames each stream
 * keeps for replay, with their defaults.
 *
 * @module
 */
import { featureOption, integerOption } from './validate.js'

/** Resumption settings. */
export interface ResumptionOptions {
  /**
   * How long after its connection is lost a session can be resumed, and how long each stream's
   * frames are kept for replay, in ms.
   * @default 120000
   */
  readonly ttlMs?: number
  /**
   * Frames kept per stream (channel, user, everyone) for replay; older ones are dropped and a
   * session that missed them resumes with `complete: false`.
   * @default 1000
   */
  readonly maxMessages?: number
}

/** Resumption options with defaults applied, or `false`; a bad value throws a `TypeError`. */
export function resolveResumption(
  value: ResumptionOptions | boolean | undefined,
  heartbeat: boolean,
): Required<ResumptionOptions> | false {
  const options = featureOption('resumption', value, heartbeat)
  if (!options) return false
  return {
    ttlMs: integerOption('resumption.ttlMs', options.ttlMs, 120_000),
    maxMessages: integerOption('resumption.maxMessages', options.maxMessages, 1_000),
  }
}
