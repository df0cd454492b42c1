/**
 * The default {@link AdmissionStore}: the three separate store calls of an admission, in order.
 * Used for stores that have no one-round-trip `admit` of their own, and the reference a native
 * `admit` must answer exactly like.
 */
import type {
  AdmissionStore,
  AdmitRequest,
  AdmitResult,
  RateLimitStore,
  SessionStore,
  TokenStore,
} from './store-contracts.js'

/** Runs one store call under a name (the warden bounds it in time); the default just runs it. */
export type StoreCall = <T>(store: string, operation: () => Promise<T>) => Promise<T>

const run: StoreCall = (_store, operation) => operation()
const admitted: AdmitResult = Object.freeze({ ok: true })
const replayed: AdmitResult = Object.freeze({ ok: false, reason: 'replayed' })

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
    for (const { key, limit } of request.attempts) {
      const hit = await this.#call('rateLimits', () =>
        this.rateLimits.hit(key, limit, request.windowMs),
      )
      if (!hit.allowed)
        return { ok: false, reason: 'attempts', key, retryAfterMs: hit.retryAfterMs }
    }
    const fresh = await this.#call('tokens', () =>
      this.tokens.consume(request.jti, request.tokenExpiresAt),
    )
    if (!fresh) return replayed
    const { session } = request
    if (session === undefined) return admitted
    const added = await this.#call('sessions', () =>
      this.sessions.add(session.record, session.caps),
    )
    return added.ok ? admitted : { ok: false, reason: 'limit', limit: added.limit }
  }
}
