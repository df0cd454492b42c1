/**
 * Admission in one round trip on a standalone Redis (or Sentinel): the attempt hits, the token
 * consume and the capped session add of one handshake as one Lua script (`ADMIT` in
 * `scripts/admission.ts`, made of the same functions the separate stores' scripts run), over the
 * very keys `hit`, `consume` and `add` use. Only {@link createRedisStores} makes one, over stores
 * it made with one bucket on a client that is not a Cluster: there the keys of one admission are on
 * one server, so one script may touch them all.
 *
 * @module
 */
import type {
  AdmissionStore,
  AdmitRequest,
  AdmitResult,
  AttemptCounter,
} from '@ws-warden/core/stores'
import { positiveInteger } from '@ws-warden/core/stores'
import { Buckets } from './buckets.js'
import { defineScript, type RedisClient, type Reply } from './client.js'
import type { RedisRateLimitStore } from './rate-limits.js'
import { windowKey } from './rate-limits.js'
import { ADMIT } from './scripts/admission.js'
import { addArgs, KEY_NAMES } from './session-layout.js'
import type { RedisSessionStore } from './sessions.js'
import { checkToken, INDEX_RETENTION_MS, tokenKey, type RedisTokenStore } from './tokens.js'

/** The one answer of an admission that went through. */
export const admitted: AdmitResult = Object.freeze({ ok: true })
const replayed: AdmitResult = Object.freeze({ ok: false, reason: 'replayed' })

/** The one-script admission over the stores of {@link createRedisStores}. */
export class RedisAdmissionStore implements AdmissionStore {
  readonly sessions: RedisSessionStore
  readonly tokens: RedisTokenStore
  readonly rateLimits: RedisRateLimitStore
  readonly #admit
  /** The 8 session keys, the token tag, its expiry index, the rate-limit tag and expiry index. */
  readonly #sessionKeys: readonly string[]
  readonly #tokenTag: string
  readonly #tokenIndex: string
  readonly #rateTag: string
  readonly #rateIndex: string
  readonly #ttl: number

  /** @internal `prefix` and `ttlMs` as the stores were made with (resolved, not defaults). */
  constructor(options: {
    readonly client: RedisClient
    readonly prefix: string
    readonly ttlMs: number
    readonly sessions: RedisSessionStore
    readonly tokens: RedisTokenStore
    readonly rateLimits: RedisRateLimitStore
  }) {
    this.sessions = options.sessions
    this.tokens = options.tokens
    this.rateLimits = options.rateLimits
    const sessionTag = new Buckets(options.prefix, 'sessions', 1).tag(0)
    this.#sessionKeys = KEY_NAMES.map((name) => `${sessionTag}:${name}`)
    this.#tokenTag = new Buckets(options.prefix, 'tokens', 1).tag(0)
    this.#tokenIndex = `${this.#tokenTag}:expiry`
    this.#rateTag = new Buckets(options.prefix, 'rate', 1).tag(0)
    this.#rateIndex = `${this.#rateTag}:expiry`
    this.#ttl = options.ttlMs
    this.#admit = defineScript(options.client, 'wsWardenAdmit', undefined, ADMIT)
  }

  async admit(request: AdmitRequest): Promise<AdmitResult> {
    const { attempts, windowMs, jti, tokenExpiresAt, session } = request
    positiveInteger('hit(windowMs)', windowMs)
    checkToken(jti, tokenExpiresAt)
    // The keys and arguments of `ADMIT` in one array, the key count first.
    const call: (string | number)[] = [11 + attempts.length, ...this.#sessionKeys]
    call.push(tokenKey(this.#tokenTag, jti), this.#tokenIndex, this.#rateIndex)
    for (const { key, limit } of attempts) {
      positiveInteger('hit(limit)', limit)
      call.push(windowKey(this.#rateTag, key))
    }
    call.push(windowMs, INDEX_RETENTION_MS, jti, Math.ceil(tokenExpiresAt))
    for (const { key, limit } of attempts) call.push(key, limit)
    if (session !== undefined) call.push(...addArgs(session.record, session.caps, this.#ttl))
    return answer(attempts, (await this.#admit(...call)) as Reply[])
  }
}

/** What an admission script's reply says: admitted, or the first refusal and its details. */
export function answer(attempts: readonly AttemptCounter[], reply: Reply[]): AdmitResult {
  const status = reply[0] as string
  if (status === 'ok') return admitted
  if (status === 'replayed') return replayed
  if (status === 'attempts') {
    const { key } = attempts[(reply[1] as number) - 1] as AttemptCounter
    return { ok: false, reason: 'attempts', key, retryAfterMs: Math.max(1, reply[2] as number) }
  }
  return { ok: false, reason: 'limit', limit: status as 'user' | 'ip' | 'total' }
}
