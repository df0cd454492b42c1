/**
 * The default {@link AdmissionStore}: the three separate store calls of an admission, in order.
 * Used for stores that have no one-round-trip `admit` of their own, and the reference a native
 * `admit` must answer exactly like.
 *
 * @module
 */
import type {
  AdmissionStore,
  AdmitRequest,
  AttemptCounter,
  AdmitResult,
  RateLimitStore,
  SessionStore,
  TokenStore,
} from './store-contracts.js'

import type { StoreCall } from './store-guard.js'

export type { StoreCall } from './store-guard.js'

const run: StoreCall = (_store, _op, operation) => operation()
/** The answers every admission store shares, one frozen object each. */
export const admitted: AdmitResult = Object.freeze({ ok: true })
export const replayed: AdmitResult = Object.freeze({ ok: false, reason: 'replayed' })

/**
 * Counts the attempts in order on `rateLimits`, stopping at the first refusal, which it answers;
 * undefined when every counter allowed its hit.
 */
export async function hitAttempts(
  rateLimits: RateLimitStore,
  attempts: readonly AttemptCounter[],
  windowMs: number,
  call: StoreCall = run,
): Promise<Extract<AdmitResult, { reason: 'attempts' }> | undefined> {
  for (const { key, limit } of attempts) {
    const hit = await call('rateLimits', 'hit', () => rateLimits.hit(key, limit, windowMs))
    if (!hit.allowed) return { ok: false, reason: 'attempts', key, retryAfterMs: hit.retryAfterMs }
  }
  return undefined
}

/** Admission as separate calls to `rateLimits`, `tokens` and `sessions`, each through `call`. */
export class ComposedAdmission implements AdmissionStore {
  readonly sessions: SessionStore
  readonly tokens: TokenStore
  readonly rateLimits: RateLimitStore
  readonly #call: StoreCall

  constructor(
    stores: {
      readonly sessions: SessionStore
      readonly tokens: TokenStore
      readonly rateLimits: RateLimitStore
    },
    call: StoreCall = run,
  ) {
    this.sessions = stores.sessions
    this.tokens = stores.tokens
    this.rateLimits = stores.rateLimits
    this.#call = call
  }

  async admit(request: AdmitRequest): Promise<AdmitResult> {
    const refused = await hitAttempts(
      this.rateLimits,
      request.attempts,
      request.windowMs,
      this.#call,
    )
    if (refused) return refused
    const fresh = await this.#call('tokens', 'consume', () =>
      this.tokens.consume(request.jti, request.tokenExpiresAt, request.userId),
    )
    if (!fresh) return replayed
    const { session } = request
    if (session === undefined) return admitted
    const added = await this.#call('sessions', 'add', () =>
      this.sessions.add(session.record, session.caps),
    )
    return added.ok ? admitted : { ok: false, reason: 'limit', limit: added.limit }
  }
}
