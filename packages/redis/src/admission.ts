/**
 * Admission in one round trip on a standalone Redis (or Sentinel): the attempt hits, the token
 * consume and the capped session add of one handshake as one Lua script (`ADMIT` in
 * `scripts/admission.ts`, made of the same functions the separate stores' scripts run), over the
 * very keys `hit`, `consume` and `add` use; `admitMany` runs up to 64 admissions, in order, in
 * one such script. Only {@link createRedisStores} makes one, over stores it made with one bucket
 * on a client that is not a Cluster: there the keys of one admission are on one server, so one
 * script may touch them all.
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
import { KEY_NAMES, recordArgs } from './session-layout.js'
import type { RedisSessionStore } from './sessions.js'
import { checkToken, INDEX_RETENTION_MS, tokenKey, type RedisTokenStore } from './tokens.js'

/** The one answer of an admission that went through. */
export const admitted: AdmitResult = Object.freeze({ ok: true })
const replayed: AdmitResult = Object.freeze({ ok: false, reason: 'replayed' })

/**
 * The most admissions in one `admitMany` call. Redis serves nothing else while a script runs, so
 * this bounds the wait one call imposes on every other client (a call of 64 held the server about
 * 2.2 ms on a loaded 2-core machine), while the per-call costs it shares (command building, reply
 * parsing, EVALSHA dispatch) are spread thin by 32 to 64 already: see `bench-notes/README.md`.
 */
export const ADMIT_MANY_LIMIT = 64

/** The one-script admission over the stores of {@link createRedisStores}. */
export class RedisAdmissionStore implements AdmissionStore {
  readonly sessions: RedisSessionStore
  readonly tokens: RedisTokenStore
  readonly rateLimits: RedisRateLimitStore
  readonly admitManyLimit = ADMIT_MANY_LIMIT
  readonly #admit
  /** The 8 session keys, the token expiry index, the rate-limit expiry index. */
  readonly #sharedKeys: readonly string[]
  readonly #tokenTag: string
  readonly #rateTag: string
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
    this.#tokenTag = new Buckets(options.prefix, 'tokens', 1).tag(0)
    this.#rateTag = new Buckets(options.prefix, 'rate', 1).tag(0)
    this.#sharedKeys = [
      ...KEY_NAMES.map((name) => `${sessionTag}:${name}`),
      `${this.#tokenTag}:expiry`,
      `${this.#rateTag}:expiry`,
    ]
    this.#ttl = options.ttlMs
    this.#admit = defineScript(options.client, 'wsWardenAdmit', undefined, ADMIT)
  }

  async admit(request: AdmitRequest): Promise<AdmitResult> {
    return (await this.#run([request]))[0] as AdmitResult
  }

  /**
   * The admissions in one `ADMIT` script, each as {@link admit} would answer it after the ones
   * before. It takes at most `admitManyLimit` (64). A bad request rejects the call before
   * anything is sent; an error inside the script rejects it too, but Redis keeps what the script
   * wrote before it (as with `admit`).
   */
  async admitMany(requests: readonly AdmitRequest[]): Promise<readonly AdmitResult[]> {
    if (requests.length > ADMIT_MANY_LIMIT) {
      throw new RangeError(
        `ws-warden: admitMany takes at most ${ADMIT_MANY_LIMIT} requests, got ${requests.length}`,
      )
    }
    return requests.length === 0 ? [] : this.#run(requests)
  }

  async #run(requests: readonly AdmitRequest[]): Promise<AdmitResult[]> {
    const keys = [...this.#sharedKeys]
    const args: (string | number)[] = [INDEX_RETENTION_MS, this.#ttl]
    for (const request of requests) this.#push(keys, args, request)
    const replies = (await this.#admit(keys.length, ...keys, ...args)) as Reply[]
    let at = 0
    return requests.map(({ attempts }) => {
      const result = answer(attempts, replies, at)
      at += replies[at] === 'attempts' ? 3 : 1
      return result
    })
  }

  /** Checks one request as the separate calls would, then adds its keys and arguments. */
  #push(keys: string[], args: (string | number)[], request: AdmitRequest): void {
    const { attempts, windowMs, jti, tokenExpiresAt, session } = request
    positiveInteger('hit(windowMs)', windowMs)
    checkToken(jti, tokenExpiresAt)
    keys.push(tokenKey(this.#tokenTag, jti))
    const withSession = session === undefined ? '0' : '1'
    args.push(attempts.length, withSession, windowMs, jti, Math.ceil(tokenExpiresAt))
    for (const { key, limit } of attempts) {
      positiveInteger('hit(limit)', limit)
      keys.push(windowKey(this.#rateTag, key))
      args.push(key, limit)
    }
    if (session !== undefined) args.push(...recordArgs(session.record, session.caps))
  }
}

/**
 * What an admission script's reply says, from `reply[at]` on: admitted, or the first refusal and
 * its details.
 */
export function answer(attempts: readonly AttemptCounter[], reply: Reply[], at = 0): AdmitResult {
  const status = reply[at] as string
  if (status === 'ok') return admitted
  if (status === 'replayed') return replayed
  if (status === 'attempts') {
    const { key } = attempts[(reply[at + 1] as number) - 1] as AttemptCounter
    const retryAfterMs = Math.max(1, reply[at + 2] as number)
    return { ok: false, reason: 'attempts', key, retryAfterMs }
  }
  return { ok: false, reason: 'limit', limit: status as 'user' | 'ip' | 'total' }
}
