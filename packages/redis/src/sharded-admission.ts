/**
 * Admission over a sharded layout (a Redis Cluster, or `buckets` above 1): two scripts sent at
 * once, one to the caps slot and one to the user's bucket, then a reconciliation that gives one
 * side's write back when the other side refused. Only {@link createRedisStores} makes one, over
 * stores it made with the tokens and connect-attempt counters in the caps slot.
 *
 * The two trips, in parallel (so one round trip of wall time, two commands):
 * - caps slot `{<prefix>:sessions:caps}` (`CAPS_ADMIT`): the attempt hits in order, the token
 *   consume, then the IP and total reserve (the directory entry), stopping at the first refusal;
 * - the user's bucket `{<prefix>:sessions:<bucket>}` (the session `add` script): the insert of
 *   the record under the per-user cap.
 *
 * Then: both said yes: admitted. The caps side refused (attempts, replayed, IP or total cap) and
 * the record went in: the record is removed. The user cap refused and the caps side reserved:
 * the reservation is rolled back. A compensating call happens only on those refusal paths (and
 * when a side failed); a compensation that fails is left to the sweep (a record without an entry
 * is swept as stale like any other, an entry without a record by the caps sweep).
 *
 * Against the one script of a standalone Redis, the answers are the same and in the same order
 * (attempts, then replayed, then the caps user before IP before total), and:
 * - failures are counted: every attempt counter is hit in the caps script before anything else,
 *   refused hits too, whatever the user side answers;
 * - a replayed token uses up nothing else: the caps script stops before the reserve, and the
 *   record the user side inserted meanwhile is removed;
 * - caps are never exceeded under concurrency: the user cap is checked atomically with the
 *   insert in the user's bucket, the IP and total caps atomically with the entry in the caps slot;
 *   a connection is admitted only when both hold, so the admitted never outnumber any cap.
 * The price of the parallel trips: until the compensation lands, a refused handshake's record can
 * be seen (a `listByUser`, a `count`, the stats) and counts against its user's cap, and its
 * reservation against the IP and total caps, so a concurrent handshake near a cap may be refused
 * where a serial order would have let it in. A record that replaces one of the same id (never
 * the warden's case: its ids are fresh) is removed with it when the caps side refuses.
 */
import type { AdmissionStore, AdmitRequest, AdmitResult } from '@ws-warden/core/stores'
import { admitted, answer, scriptCall } from './admission.js'
import { Buckets, bucketOf } from './buckets.js'
import { defineScript, type RedisClient, type Reply } from './client.js'
import type { RedisRateLimitStore } from './rate-limits.js'
import { CAPS_ADMIT, CAPS_RESTORE, REMOVE_SESSIONS, SESSION_SCRIPTS } from './scripts.js'
import {
  addArgs,
  CAPS_NAMES,
  capsTag,
  entryBucket,
  KEY_NAMES,
  type RedisSessionStore,
} from './sessions.js'
import type { RedisTokenStore } from './tokens.js'

/** Where `createRedisStores` keeps the tokens and attempt counters of a sharded layout. */
export function colocatedBase(prefix: string, kind: 'tokens' | 'rate'): string {
  return `${capsTag(prefix)}:${kind}`
}

/** The two-trip admission over the stores of {@link createRedisStores} with several buckets. */
export class RedisShardedAdmissionStore implements AdmissionStore {
  readonly sessions: RedisSessionStore
  readonly tokens: RedisTokenStore
  readonly rateLimits: RedisRateLimitStore
  readonly #caps
  readonly #add
  readonly #restore
  readonly #remove
  readonly #capsKeys: readonly string[]
  /** Per bucket, its 8 session keys in script order. */
  readonly #bucketKeys: readonly (readonly string[])[]
  readonly #tokenBase: string
  readonly #rateBase: string
  readonly #ttl: number

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
    this.#capsKeys = CAPS_NAMES.map((name) => `${capsTag(prefix)}:${name}`)
    this.#bucketKeys = new Buckets(prefix, 'sessions', options.buckets).all.map((tag) =>
      KEY_NAMES.map((name) => `${tag}:${name}`),
    )
    this.#tokenBase = colocatedBase(prefix, 'tokens')
    this.#rateBase = colocatedBase(prefix, 'rate')
    this.#ttl = options.ttlMs
    // The same names and scripts as the session store's: defining them again is harmless.
    this.#caps = defineScript(client, 'wsWardenCapsAdmit', undefined, CAPS_ADMIT)
    this.#add = defineScript(client, 'wsWardenSession_add', 8, SESSION_SCRIPTS.add)
    this.#remove = defineScript(client, 'wsWardenSession_removeMany', 8, REMOVE_SESSIONS)
    this.#restore = defineScript(client, 'wsWardenSessionCaps_restore', 3, CAPS_RESTORE)
  }

  async admit(request: AdmitRequest): Promise<AdmitResult> {
    const { attempts, session } = request
    const { keys, args } = scriptCall(request, this.#capsKeys, this.#tokenBase, this.#rateBase)
    if (session === undefined) {
      return answer(attempts, (await this.#caps(keys.length, ...keys, ...args)) as Reply[])
    }
    const { record, caps } = session
    const bucket = bucketOf(record.userId, this.#bucketKeys.length)
    const bucketKeys = this.#bucketKeys[bucket] as string[]
    const [id, json, seenAt, perUser, perIp, total, ttl] = addArgs(record, caps, this.#ttl)
    args.push(id, bucket, record.ip, seenAt, perIp, total, ttl)
    const [central, local] = await Promise.allSettled([
      this.#caps(keys.length, ...keys, ...args) as Promise<Reply[]>,
      this.#add(...bucketKeys, id, json, seenAt, perUser, '', '', ttl),
    ])
    const reply = central.status === 'fulfilled' ? central.value : undefined
    const reserved = reply?.[0] === 'ok'
    // A failed insert may have run: its record goes too (the sweep would take it otherwise).
    const inserted = local.status === 'rejected' || local.value === 'ok'
    const giveBack: Promise<unknown>[] = []
    if (inserted && !(reserved && local.status === 'fulfilled')) {
      giveBack.push(this.#remove(...bucketKeys, id))
    }
    if (reserved && !(inserted && local.status === 'fulfilled')) {
      const [, previous, previousSeen] = reply as [string, string, string]
      giveBack.push(
        this.#restore(...this.#capsKeys, id, `${bucket}:${record.ip}`, previous, previousSeen, ttl),
      )
    }
    await Promise.all(giveBack.map((call) => call.catch(() => {})))
    if (central.status === 'rejected') throw central.reason
    if (local.status === 'rejected') throw local.reason
    const status = (reply as Reply[])[0]
    if (status === 'attempts' || status === 'replayed') return answer(attempts, reply as Reply[])
    if (local.value !== 'ok') return { ok: false, reason: 'limit', limit: 'user' }
    if (!reserved) return answer(attempts, reply as Reply[])
    // The id was another user's record, in another bucket: that one is replaced, so it goes.
    const moved = entryBucket(((reply as Reply[])[1] as string) || null) ?? bucket
    if (moved !== bucket) await this.#remove(...(this.#bucketKeys[moved] as string[]), id)
    return admitted
  }
}
