/**
 * The in-process admission: the memory stores' attempts, consume and capped add as one
 * synchronous step, so an admission on the default stores is one store call instead of four.
 *
 * @module
 */
import { admitted, replayed } from '../composed-admission.js'
import type { AdmissionStore, AdmitRequest, AdmitResult } from '../store-contracts.js'
import type { MemoryRateLimitStore } from './rate-limits.js'
import type { MemorySessionStore } from './sessions.js'
import type { MemoryTokenStore } from './tokens.js'

/**
 * The {@link AdmissionStore} of the memory stores. It answers exactly as the separate calls in
 * order (`ComposedAdmission`): the attempts counted up to the first refusal, then the consume,
 * then the capped add. Nothing runs between the steps, so it is atomic within the process.
 * A warden on the three memory stores uses one by itself; pass one as `stores.admission` only
 * to share it.
 *
 * ```ts
 * const sessions = new MemorySessionStore()
 * const tokens = new MemoryTokenStore()
 * const rateLimits = new MemoryRateLimitStore()
 * const admission = new MemoryAdmissionStore({ sessions, tokens, rateLimits })
 * ```
 */
export class MemoryAdmissionStore implements AdmissionStore {
  readonly sessions: MemorySessionStore
  readonly tokens: MemoryTokenStore
  readonly rateLimits: MemoryRateLimitStore

  constructor(stores: {
    readonly sessions: MemorySessionStore
    readonly tokens: MemoryTokenStore
    readonly rateLimits: MemoryRateLimitStore
  }) {
    this.sessions = stores.sessions
    this.tokens = stores.tokens
    this.rateLimits = stores.rateLimits
  }

  async admit(request: AdmitRequest): Promise<AdmitResult> {
    return this.admitSync(request)
  }

  /**
   * {@link admit} on each request in order. A warden never batches an in-process store (each
   * admission answers in its own tick); this is the reference the conformance suite holds the
   * other stores' `admitMany` to.
   */
  async admitMany(requests: readonly AdmitRequest[]): Promise<readonly AdmitResult[]> {
    return requests.map((request) => this.admitSync(request))
  }

  /** {@link admit}, answered synchronously. */
  admitSync(request: AdmitRequest): AdmitResult {
    for (const { key, limit } of request.attempts) {
      const hit = this.rateLimits.hitSync(key, limit, request.windowMs)
      if (!hit.allowed)
        return { ok: false, reason: 'attempts', key, retryAfterMs: hit.retryAfterMs }
    }
    if (!this.tokens.consumeSync(request.jti, request.tokenExpiresAt)) return replayed
    const { session } = request
    if (session === undefined) return admitted
    const added = this.sessions.addSync(session.record, session.caps)
    return added.ok ? admitted : { ok: false, reason: 'limit', limit: added.limit }
  }
}
