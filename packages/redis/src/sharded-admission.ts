/**
 * Admission over a sharded layout (a Redis Cluster, or `buckets` above 1), and where that layout
 * keeps the tokens and the connect-attempt windows: two scripts sent at once, one to the user's
 * session bucket and one to the caps slot, then a compensation that gives back what one side did
 * when the other side refused. Only {@link createRedisStores} makes one, over stores it made with
 * {@link shardedPlacement}. The semantics are on {@link RedisShardedAdmissionStore}.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import {
  ComposedAdmission,
  positiveInteger,
  type AdmissionStore,
  type AdmitRequest,
  type AdmitResult,
  type AttemptCounter,
} from '@ws-warden/core/stores'
import { admitted, answer } from './admission.js'
import { Buckets, bucketOf, type Placement } from './buckets.js'
import { defineScript, type RedisClient, type Reply } from './client.js'
import { windowKey, type RedisRateLimitStore } from './rate-limits.js'
import { CAPS_ADMIT, USER_ADMIT, USER_GIVE_BACK } from './scripts/admission.js'
import { CAPS_RESTORE } from './scripts/caps.js'
import { REMOVE_SESSIONS } from './scripts/sessions.js'
import { addArgs, CAPS_NAMES, capsTag, entryBucket, KEY_NAMES } from './session-layout.js'
import type { RedisSessionStore } from './sessions.js'
import { checkToken, INDEX_RETENTION_MS, tokenKey, type RedisTokenStore } from './tokens.js'

/** The rate-limit keys of the core's connect-attempt counters (see core's `admission.ts`). */
const IP_ATTEMPTS = 'connect:ip:'
const USER_ATTEMPTS = 'connect:user:'

/** Where a sharded layout of `createRedisStores` keeps tokens and connect-attempt windows. */
export interface ShardedPlacement {
  /** By owner: the owner's session bucket, `{<prefix>:sessions:<bucket>}:tokens`. */
  readonly tokens: Placement
  /** `connect:user:<id>` in the user's session bucket, `connect:ip:<ip>` in the caps slot. */
  readonly rate: Placement
}

/** The placement of tokens and connect-attempt windows beside the sessions of `buckets`. */
export function shardedPlacement(prefix: string, buckets: number): ShardedPlacement {
  const tags = new Buckets(prefix, 'sessions', buckets).all
  const tokenBases = tags.map((tag) => `${tag}:tokens`)
  const rateBases = tags.map((tag) => `${tag}:rate`)
  const ipBase = `${capsTag(prefix)}:rate`
  return {
    tokens: { place: (owner) => tokenBases[bucketOf(owner, buckets)], bases: tokenBases },
    rate: {
      place: (key) =>
        key.startsWith(USER_ATTEMPTS)
          ? rateBases[bucketOf(key.slice(USER_ATTEMPTS.length), buckets)]
          : key.startsWith(IP_ATTEMPTS)
            ? ipBase
            : undefined,
      bases: [...rateBases, ipBase],
    },
  }
}

/**
 * The two-trip admission over the stores of {@link createRedisStores} with several buckets.
 *
 * Where things live (so that each side is one slot, and the tokens and windows spread over the
 * buckets like the sessions do):
 * - the user's bucket `{<prefix>:sessions:<bucket of user>}`: the user's records, the tokens the
 *   user owns (`:tokens:jti:<jti>`, the owner being the verified principal's user id) and the
 *   user's connect-attempt window (`:rate:win:connect:user:<id>`);
 * - the caps slot `{<prefix>:sessions:caps}`: the directory behind the caps per IP and in total,
 *   and the IPs' connect-attempt windows (`:rate:win:connect:ip:<ip>`).
 *
 * The two trips, in parallel (one round trip of wall time, two commands):
 * - user side (`USER_ADMIT`): the user's attempt hits, the token consume, then the insert under
 *   the per-user cap, stopping at the first refusal;
 * - caps side (`CAPS_ADMIT`): the IP's attempt hits, then the IP and total reserve.
 *
 * The composed calls (core's `ComposedAdmission`) run: IP attempts, user attempts, consume, the
 * capped add, stopping at the first refusal. The answer is theirs, and so is the state once the
 * compensation has landed:
 * - the IP attempts refused: the user side is given back whole (`USER_GIVE_BACK`): one hit off
 *   each user window it hit, the token key deleted if it still holds this admission's mark (a
 *   consume of another caller is never undone), the record removed;
 * - the user side refused (its attempts, a replayed token, the user cap): the reserve is rolled
 *   back (`CAPS_RESTORE`); the IP hit stays counted, as it would be;
 * - the IP or total cap refused and the record went in: the record is removed; the token stays
 *   used, as it would be.
 * A compensating call runs only on those refusal paths (and when a side failed: a failed caps
 * side gives the user side back whole, a failed user side gets the reservation rolled back and
 * its record removed, its token left used, since it may have been consumed). A compensation that
 * fails is left to the sweeps (a record without an entry is swept as stale like any other, an
 * entry without a record by the caps sweep); a user window or a token left behind by a failed
 * give-back only expires.
 *
 * What a concurrent caller can see until the compensation lands (the price of the parallel
 * trips; a serial order would not show it):
 * - a refused handshake's record (`listByUser`, `count`, the stats), counting against its
 *   user's cap, and its reservation against the IP and total caps: a concurrent handshake near a
 *   cap may be refused where a serial order would have let it in; caps are never exceeded;
 * - a refused handshake's user attempt: a concurrent handshake of that user near its attempt
 *   limit may be refused by it; a window the give-back brings back to 0 is deleted, but one that
 *   others hit meanwhile keeps the start the refused hit gave it;
 * - a token consumed by a handshake whose IP attempts refused: a retry with the same token, or a
 *   refresh consuming it, answers `replayed` until the give-back deleted the key, and succeeds
 *   after it.
 * A record that replaces one of the same id (never the warden's case: its ids are fresh) is
 * removed with it when the caps side refuses.
 *
 * The tokens' place depends on the owner, so every consume of one token must name the same
 * owner: the core passes the verified principal's user id at admission and at refresh (see
 * `TokenStore.consume`), so a refresh and an admission of one token meet in one key. A request
 * this layout cannot split into the two sides (attempts other than the IP's then the user's, a
 * record of another user than `userId`) runs as the composed calls.
 *
 * It has no `admitMany`: the handshakes of one batch belong to users of many buckets, so many
 * slots, and the keys of one script must be in one slot; each admission stays its own pair of
 * scripts (pipelined on the connection), and the warden calls `admit` per handshake.
 */
export class RedisShardedAdmissionStore implements AdmissionStore {
  readonly sessions: RedisSessionStore
  readonly tokens: RedisTokenStore
  readonly rateLimits: RedisRateLimitStore
  readonly #caps
  readonly #user
  readonly #giveBack
  readonly #restore
  readonly #remove
  readonly #composed: ComposedAdmission
  readonly #placement: ShardedPlacement
  readonly #capsKeys: readonly string[]
  readonly #ipBase: string
  /** Per bucket, its 8 session keys in script order. */
  readonly #bucketKeys: readonly (readonly string[])[]
  readonly #tokenBases: readonly string[]
  readonly #rateBases: readonly string[]
  readonly #ttl: number
  /** Marks of this store's consumes: unique across instances, so a give-back undoes only its own. */
  readonly #markPrefix = randomBytes(9).toString('base64url')
  #marks = 0

  /** @internal `prefix`, `buckets` and `ttlMs` as the stores were made with (resolved). */
  constructor(options: {
    readonly client: RedisClient
    readonly prefix: string
    readonly buckets: number
    readonly ttlMs: number
    readonly sessions: RedisSessionStore
    readonly tokens: RedisTokenStore
    readonly rateLimits: RedisRateLimitStore
  }) {
    const { client, prefix } = options
    this.sessions = options.sessions
    this.tokens = options.tokens
    this.rateLimits = options.rateLimits
    this.#composed = new ComposedAdmission(this)
    this.#capsKeys = CAPS_NAMES.map((name) => `${capsTag(prefix)}:${name}`)
    this.#placement = shardedPlacement(prefix, options.buckets)
    this.#ipBase = `${capsTag(prefix)}:rate`
    const tags = new Buckets(prefix, 'sessions', options.buckets).all
    this.#bucketKeys = tags.map((tag) => KEY_NAMES.map((name) => `${tag}:${name}`))
    this.#tokenBases = tags.map((tag) => `${tag}:tokens`)
    this.#rateBases = tags.map((tag) => `${tag}:rate`)
    this.#ttl = options.ttlMs
    this.#caps = defineScript(client, 'wsWardenCapsAdmit', undefined, CAPS_ADMIT)
    this.#user = defineScript(client, 'wsWardenUserAdmit', undefined, USER_ADMIT)
    this.#giveBack = defineScript(client, 'wsWardenUserGiveBack', undefined, USER_GIVE_BACK)
    // The same names and scripts as the session store's: defining them again is harmless.
    this.#remove = defineScript(client, 'wsWardenSession_removeMany', 8, REMOVE_SESSIONS)
    this.#restore = defineScript(client, 'wsWardenSessionCaps_restore', 3, CAPS_RESTORE)
  }

  async admit(request: AdmitRequest): Promise<AdmitResult> {
    const { attempts, windowMs, jti, tokenExpiresAt, userId, session } = request
    positiveInteger('hit(windowMs)', windowMs)
    checkToken(jti, tokenExpiresAt, userId)
    for (const { limit } of attempts) positiveInteger('hit(limit)', limit)
    const bucket = bucketOf(userId, this.#bucketKeys.length)
    const rate = this.#rateBases[bucket] as string
    const sides = this.#split(attempts, rate)
    if (sides === undefined || (session !== undefined && session.record.userId !== userId)) {
      return this.#composed.admit(request)
    }
    const [ipSide, userSide] = sides
    const sessionKeys = this.#bucketKeys[bucket] as readonly string[]
    const tokens = this.#tokenBases[bucket] as string
    const mark = `${this.#markPrefix}${++this.#marks}`
    // The user side's keys before its windows: the session keys, the token, the two indexes.
    const userBase = [...sessionKeys, tokenKey(tokens, jti), `${tokens}:expiry`, `${rate}:expiry`]
    const windows = userSide.map(({ key }) => windowKey(rate, key))
    const userKeys = [...userBase, ...windows]
    const userArgs: (string | number)[] = [
      windowMs,
      INDEX_RETENTION_MS,
      jti,
      Math.ceil(tokenExpiresAt),
      mark,
      userSide.length,
      ...userSide.flatMap(({ key, limit }) => [key, limit]),
    ]
    const capsKeys = [
      ...this.#capsKeys,
      `${this.#ipBase}:expiry`,
      ...ipSide.map(({ key }) => windowKey(this.#ipBase, key)),
    ]
    const capsArgs: (string | number)[] = [
      windowMs,
      INDEX_RETENTION_MS,
      ipSide.length,
      ...ipSide.flatMap(({ key, limit }) => [key, limit]),
    ]
    const ttl = this.#ttl
    let id = ''
    /** The directory entry the reserve writes: what a rollback checks it still holds. */
    let entry = ''
    if (session !== undefined) {
      const { record, caps } = session
      const [sessionId, json, seenAt, perUser, perIp, total] = addArgs(record, caps, ttl)
      id = sessionId
      entry = `${bucket}:${record.ip}`
      userArgs.push(id, json, seenAt, perUser, '', '', ttl)
      capsArgs.push(id, bucket, record.ip, seenAt, perIp, total, ttl)
    }
    const nothingCentral = ipSide.length === 0 && session === undefined
    const [central, local] = await Promise.allSettled([
      nothingCentral
        ? Promise.resolve(['ok'])
        : (this.#caps(capsKeys.length, ...capsKeys, ...capsArgs) as Promise<Reply[]>),
      this.#user(userKeys.length, ...userKeys, ...userArgs) as Promise<Reply[]>,
    ])
    const caps = central.status === 'fulfilled' ? central.value : undefined
    const user = local.status === 'fulfilled' ? local.value : undefined
    const ipRefused = caps?.[0] === 'attempts'
    const reserved = session !== undefined && caps?.[0] === 'ok'
    // A failed insert may have run: its record goes too (the sweep would take it otherwise).
    const inserted = session !== undefined && (user === undefined || user[0] === 'ok')
    const compensation: Promise<unknown>[] = []
    if (caps === undefined || ipRefused) {
      // The composed calls stop at the IP (or fail there): nothing of the user side happened.
      const hits =
        user === undefined ? 0 : user[0] === 'attempts' ? Number(user[1]) : userSide.length
      const hit = windows.slice(0, hits)
      const members = userSide.slice(0, hits).map(({ key }) => key)
      const keys = [...userBase, ...hit]
      compensation.push(
        this.#giveBack(keys.length, ...keys, mark, jti, inserted ? id : '', ...members),
      )
    } else if (inserted && !(reserved && user !== undefined)) {
      compensation.push(this.#remove(...sessionKeys, id))
    }
    if (reserved && user?.[0] !== 'ok') {
      const [, previous, previousSeen] = caps as [string, string, string]
      compensation.push(this.#restore(...this.#capsKeys, id, entry, previous, previousSeen, ttl))
    }
    await Promise.all(compensation.map((call) => call.catch(() => {})))
    if (central.status === 'rejected') throw central.reason
    if (ipRefused) return answer(ipSide, caps as Reply[])
    if (local.status === 'rejected') throw local.reason
    if ((user as Reply[])[0] !== 'ok') return answer(userSide, user as Reply[])
    if (!reserved) return session === undefined ? admitted : answer(ipSide, caps as Reply[])
    // The id was another user's record, in another bucket: that one is replaced, so it goes.
    const moved = entryBucket(((caps as Reply[])[1] as string) || null) ?? bucket
    if (moved !== bucket) await this.#remove(...(this.#bucketKeys[moved] as string[]), id)
    return admitted
  }

  /**
   * The attempts as the two sides count them: those in the caps slot (the IPs') first, then
   * those in the user's bucket (`rate`); undefined if they are not in that order or live
   * elsewhere.
   */
  #split(
    attempts: readonly AttemptCounter[],
    rate: string,
  ): [AttemptCounter[], AttemptCounter[]] | undefined {
    const place = (attempt: AttemptCounter | undefined) =>
      attempt && this.#placement.rate.place(attempt.key)
    let ips = 0
    while (place(attempts[ips]) === this.#ipBase) ips++
    const userSide = attempts.slice(ips)
    if (userSide.some((attempt) => place(attempt) !== rate)) return undefined
    return [attempts.slice(0, ips), userSide]
  }
}
