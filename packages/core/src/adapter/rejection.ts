/**
 * The one mapping from an admission rejection to its HTTP answer. Every adapter writes it with
 * its framework's response API and `rejectUpgrade` writes it to a raw socket, so a refusal looks
 * the same on every adapter: the error's status, a JSON body `{"error": "<code>"}`, and
 * `Retry-After` where waiting helps (a rate limit's 429, a 503).
 *
 * @module
 */
import type { WardenError } from '../errors.js'
import { RateLimitedError } from '../errors.js'

/** Seconds a client should wait after a 503, when the error does not say. */
const DEFAULT_RETRY_AFTER_S = 5

/** An HTTP answer without a framework: what an adapter writes the framework's way. */
export interface HttpAnswer {
  readonly status: number
  /** Header names as they go on the wire (`Retry-After`, `Cache-Control`). */
  readonly headers: Readonly<Record<string, string>>
  /** Sent as JSON. */
  readonly body: Readonly<Record<string, unknown>>
}

/** The `Retry-After` header value (seconds) for a rejection, or undefined when none applies. */
export function retryAfterSeconds(error: WardenError): number | undefined {
  if (error instanceof RateLimitedError) return Math.max(1, Math.ceil(error.retryAfterMs / 1000))
  if (error.status === 503) return DEFAULT_RETRY_AFTER_S
  return undefined
}

/** The HTTP answer to a rejected upgrade: `error.status`, `{ error: code }`, maybe `Retry-After`. */
export function rejectionAnswer(error: WardenError): HttpAnswer {
  const retryAfter = retryAfterSeconds(error)
  return {
    status: error.status,
    headers: retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) },
    body: { error: error.code },
  }
}
