/**
 * The Redis session store: the cluster-wide record of live connections, adds that never exceed
 * the user, IP and total caps, channel joins, touches, stats and the sweep of stale records. Its
 * keys and record encoding are in `session-layout.ts`, its Lua in `scripts/sessions.ts` and
 * `scripts/caps.ts`.
 *
 * @module
 */
import type {
  AddSessionResult,
  ConnectionCaps,
  SessionFilter,
  SessionRecord,
  SessionStats,
  SessionStore,
} from '@ws-warden/core/stores'
import { countOption } from '@ws-warden/core/stores'
import { Buckets, bucketOf } from './buckets.js'
import { defineScripts, storeOptions } from './client.js'
import type { RedisClient, RedisStoreOptions, Reply, Script } from './client.js'
import { CAPS_SCRIPTS } from './scripts/caps.js'
import { SESSION_SCRIPTS } from './scripts/sessions.js'
import {
  addArgs,
  byBucket,
  CAPS_NAMES,
  capsTag,
  decodeRecords,
  entryBucket,
  KEY_NAMES,
} from './session-layout.js'

/** Options of {@link RedisSessionStore}. */
export interface RedisSessionStoreOptions extends RedisStoreOptions {
  /**
   * Lifetime of the session keys, refreshed by every add, join and touch: if every instance
   * stops, the records vanish at least this long after the last write, and at most 1/64 longer
   * (a refresh sets 1/64 more, so that the adds right after it need not refresh). Keep it far
   * above the heartbeat interval (touches refresh it).
   * @default 86400000 (one day)
   */
  readonly ttlMs?: number | undefined
}

/** Ids per touch script, records per sweep script: bounds the time one script holds Redis. */
const BATCH = 1000

/** The default lifetime of session keys (option `ttlMs`). */
export const SESSION_TTL_MS = 86_400_000

type ScriptName = keyof typeof SESSION_SCRIPTS
type CapsName = keyof typeof CAPS_SCRIPTS
type Limit = 'user' | 'ip' | 'total'

/**
 * The session registry in Redis, shared by every instance. A bucket is eight keys under one hash
 * tag: the records (a hash of JSON arrays), their lastSeenAt, indexes by user, IP and channel
 * (lex ranges, O(log n + answer)) and counts per user, IP and channel. Every write to a bucket is
 * one Lua script; stats come from maintained counters, never a scan.
 *
 * With one bucket (the default on a standalone Redis) everything is in `{<prefix>:sessions}:*`
 * and an add checks all three caps atomically with the insert, in one round trip.
 *
 * With several (the default on a Cluster: `{<prefix>:sessions:<bucket>}:*`), the registry is
 * sharded by user: all of a user's records are in the bucket of their user id, so the per-user
 * cap, `listByUser` and `count({ userId })` stay one script on one slot. The caps per IP and in
 * total span users, so what they count lives in one more slot, `{<prefix>:sessions:caps}`: a
 * directory of every id (its bucket and IP), counts per IP, and lastSeenAt. An add is two
 * phases: reserve (one script: check the IP and total caps, write the id's entry), then insert
 * into the user's bucket (one script: check the per-user cap); a refused or failed insert rolls
 * the reservation back. A record is only ever inserted under a reservation, and a removal drops
 * the record before its entry, so the records never outnumber the entries and the caps are never
 * exceeded, whatever runs concurrently. The price: near a cap, a reservation that its user cap
 * then refuses holds its place for a round trip, so a concurrent add for the same IP (or any, at
 * the total) may be refused where a serial order would have let it in; and an add over both the
 * IP and the user cap reports 'ip'. Entries whose insert never came (an instance died between
 * the phases) are swept like stale records. Operations by id (`get`, `remove`, `join`, `touch`)
 * first look the bucket up in the directory: one round trip more than with one bucket.
 */
export class RedisSessionStore implements SessionStore {
  readonly #client: RedisClient
  readonly #buckets: Buckets
  /** Per bucket, its keys in script order. */
  readonly #keys: readonly string[][]
  /** The caps keys; undefined with one bucket. */
  readonly #caps: readonly string[] | undefined
  readonly #ttl: number
  readonly #run: Record<ScriptName, Script>
  readonly #capsRun: Record<CapsName, Script>

  constructor(options: RedisSessionStoreOptions) {
    const { client, prefix, buckets } = storeOptions('RedisSessionStore', options)
    this.#client = client
    this.#ttl = countOption('RedisSessionStore', 'ttlMs', options.ttlMs, SESSION_TTL_MS)
    this.#buckets = new Buckets(prefix, 'sessions', buckets)
    this.#keys = this.#buckets.all.map((tag) => KEY_NAMES.map((name) => `${tag}:${name}`))
    this.#caps = buckets === 1 ? undefined : CAPS_NAMES.map((name) => `${capsTag(prefix)}:${name}`)
    this.#run = defineScripts(client, 'wsWardenSession_', KEY_NAMES.length, SESSION_SCRIPTS)
    this.#capsRun = defineScripts(client, 'wsWardenSessionCaps_', CAPS_NAMES.length, CAPS_SCRIPTS)
  }

  async add(record: SessionRecord, caps: ConnectionCaps = {}): Promise<AddSessionResult> {
    const { id, userId, ip } = record
    const bucket = bucketOf(userId, this.#buckets.count)
    if (this.#caps === undefined) {
      return outcome(await this.#call(bucket, 'add', ...addArgs(record, caps, this.#ttl)))
    }
    const [, json, , perUser, perIp, total] = addArgs(record, caps, this.#ttl)
    const args = [id, bucket, ip, record.lastSeenAt, perIp, total, this.#ttl]
    const reserved = (await this.#capsCall('reserve', ...args)) as [string, string?, string?]
    const [status, previous = '', previousSeen = ''] = reserved
    if (status !== 'ok') return outcome(status)
    const rollback = () =>
      this.#capsCall('restore', id, `${bucket}:${ip}`, previous, previousSeen, this.#ttl)
    let inserted: Reply
    try {
      inserted = await this.#call(
        bucket,
        'add',
        id,
        json,
        record.lastSeenAt,
        perUser,
        '',
        '',
        this.#ttl,
      )
    } catch (error) {
      // Whether the insert ran or not, the entry goes: a record left without one is swept.
      await rollback().catch(() => {})
      throw error
    }
    if (inserted !== 'ok') {
      await rollback()
      return outcome(inserted as string)
    }
    const moved = entryBucket(previous === '' ? null : previous) ?? bucket
    // The id was another user's record, in another bucket: that one is replaced, so it goes.
    if (moved !== bucket) await this.#call(moved, 'removeMany', id)
    return { ok: true }
  }

  async remove(id: string): Promise<boolean> {
    if (this.#caps === undefined) return (await this.#call(0, 'remove', id)) === 1
    const [bucket] = await this.#locate([id])
    if (bucket === undefined) return false
    // The record first, then its entry: the records never outnumber what the caps count.
    const removed = await this.#call(bucket, 'removeMany', id)
    await this.#capsCall('release', id)
    return removed === 1
  }

  /** One script call (per bucket the ids are in, then the caps release, when sharded). */
  async removeMany(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0
    if (this.#caps === undefined) return (await this.#call(0, 'removeMany', ...ids)) as number
    const buckets = await this.#locate(ids)
    const located = ids.map((id, i): [string, number | undefined] => [id, buckets[i]])
    const groups = [...byBucket(located)]
    if (groups.length === 0) return 0
    const counts = await Promise.all(
      groups.map(([bucket, mine]) => this.#call(bucket, 'removeMany', ...mine)),
    )
    // The records first, then their entries: the records never outnumber what the caps count.
    await this.#capsCall('release', ...groups.flatMap(([, mine]) => mine))
    return counts.reduce<number>((sum, n) => sum + (n as number), 0)
  }

  async get(id: string): Promise<SessionRecord | null> {
    const [bucket] = this.#caps === undefined ? [0] : await this.#locate([id])
    if (bucket === undefined) return null
    return (await this.#read(bucket, 'id', id))[0] ?? null
  }

  listByUser(userId: string): Promise<SessionRecord[]> {
    return this.#read(bucketOf(userId, this.#buckets.count), 'user', userId)
  }

  async listByChannel(channel: string): Promise<SessionRecord[]> {
    const found = await this.#everyBucket((bucket) => this.#read(bucket, 'channel', channel))
    return found.flat()
  }

  async count(filter: SessionFilter = {}): Promise<number> {
    const args: (string | number)[] = []
    if (filter.userId !== undefined) args.push(3, filter.userId)
    if (filter.ip !== undefined) args.push(4, filter.ip)
    if (filter.channel !== undefined) args.push(5, filter.channel)
    if (filter.userId !== undefined) {
      return Number(
        await this.#call(bucketOf(filter.userId, this.#buckets.count), 'count', ...args),
      )
    }
    const counts = await this.#everyBucket((bucket) => this.#call(bucket, 'count', ...args))
    return counts.reduce<number>((sum, n) => sum + Number(n), 0)
  }

  async stats(): Promise<SessionStats> {
    const replies = await this.#everyBucket((bucket) => this.#call(bucket, 'stats'))
    let connections = 0
    let users = 0
    const counts = new Map<string, number>()
    for (const reply of replies) {
      const [bucketConnections, bucketUsers, flat] = reply as [number, number, string[]]
      // A user's records are all in one bucket: distinct users add up.
      connections += bucketConnections
      users += bucketUsers
      for (let i = 0; i < flat.length; i += 2) {
        const channel = flat[i] as string
        counts.set(channel, (counts.get(channel) ?? 0) + Number(flat[i + 1]))
      }
    }
    // fromEntries defines own properties: a channel named `__proto__` is counted, not applied.
    return { connections, users, channels: Object.fromEntries(counts) }
  }

  async join(id: string, channel: string): Promise<void> {
    await this.#move(id, channel, 1)
  }

  async leave(id: string, channel: string): Promise<void> {
    await this.#move(id, channel, -1)
  }

  async touch(ids: readonly string[], at: number): Promise<void> {
    const batches: Promise<unknown>[] = []
    for (let i = 0; i < ids.length; i += BATCH) {
      const batch = ids.slice(i, i + BATCH)
      batches.push(
        this.#caps === undefined
          ? this.#call(0, 'touch', at, this.#ttl, ...batch)
          : this.#touchSharded(batch, at),
      )
    }
    await Promise.all(batches)
  }

  async sweep(staleBefore: number): Promise<number> {
    if (this.#caps === undefined) {
      let removed = 0
      for (;;) {
        const [records, scanned] = (await this.#call(0, 'sweep', staleBefore, BATCH)) as number[]
        removed += records as number
        if (scanned !== BATCH) return removed
      }
    }
    const counts = await this.#everyBucket((bucket) => this.#sweepBucket(bucket, staleBefore))
    let removed = counts.reduce((sum, n) => sum + n, 0)
    // Then the entries no bucket sweep released: reservations whose insert never came.
    for (;;) {
      const flat = (await this.#capsCall('stale', staleBefore, BATCH)) as string[]
      const stale: [string, number | undefined][] = []
      for (let i = 0; i < flat.length; i += 2) {
        const entry = flat[i + 1] as string
        stale.push([flat[i] as string, entryBucket(entry === '' ? null : entry)])
      }
      removed += await this.#removeFrom(stale)
      if (flat.length < BATCH * 2) return removed
    }
  }

  async countSweepable(staleBefore: number): Promise<number> {
    const counts = await this.#everyBucket((bucket) =>
      this.#call(bucket, 'countStale', staleBefore),
    )
    return counts.reduce<number>((sum, n) => sum + Number(n), 0)
  }

  #call(bucket: number, script: ScriptName, ...args: (string | number)[]): Promise<Reply> {
    return this.#run[script](...(this.#keys[bucket] as string[]), ...args)
  }

  #capsCall(script: CapsName, ...args: (string | number)[]): Promise<Reply> {
    return this.#capsRun[script](...(this.#caps as string[]), ...args)
  }

  #everyBucket<T>(call: (bucket: number) => Promise<T>): Promise<T[]> {
    return Promise.all(this.#keys.map((_, bucket) => call(bucket)))
  }

  /** The bucket of each id, from the directory (undefined for an id it does not hold). */
  async #locate(ids: readonly string[]): Promise<(number | undefined)[]> {
    const entries = await this.#client.hmget((this.#caps as string[])[0] as string, ...ids)
    return entries.map(entryBucket)
  }

  async #move(id: string, channel: string, by: 1 | -1): Promise<void> {
    const [bucket] = this.#caps === undefined ? [0] : await this.#locate([id])
    if (bucket !== undefined) await this.#call(bucket, 'move', id, channel, by, this.#ttl)
  }

  async #touchSharded(ids: readonly string[], at: number): Promise<void> {
    const entries = (await this.#capsCall('touch', at, this.#ttl, ...ids)) as (string | null)[]
    const located = ids.map((id, i): [string, number | undefined] => [
      id,
      entryBucket(entries[i] ?? null),
    ])
    await Promise.all(
      [...byBucket(located)].map(([bucket, mine]) =>
        this.#call(bucket, 'touch', at, this.#ttl, ...mine),
      ),
    )
  }

  /** Sweeps one bucket of a sharded registry, releasing the entries of what it removed. */
  async #sweepBucket(bucket: number, staleBefore: number): Promise<number> {
    let removed = 0
    for (;;) {
      const [scanned, ...ids] = (await this.#call(bucket, 'sweepIds', staleBefore, BATCH)) as [
        number,
        ...string[],
      ]
      if (ids.length > 0) await this.#capsCall('release', ...ids)
      removed += ids.length
      if (scanned !== BATCH) return removed
    }
  }

  /** Removes records by id from their buckets; returns how many existed. */
  async #removeFrom(located: readonly [string, number | undefined][]): Promise<number> {
    const counts = await Promise.all(
      [...byBucket(located)].map(([bucket, ids]) => this.#call(bucket, 'removeMany', ...ids)),
    )
    return counts.reduce<number>((sum, n) => sum + Number(n), 0)
  }

  async #read(
    bucket: number,
    kind: 'id' | 'user' | 'channel',
    value: string,
  ): Promise<SessionRecord[]> {
    return decodeRecords((await this.#call(bucket, 'read', kind, value)) as string[])
  }
}

/** An add's answer from a script's: 'ok', or the cap it hit. */
function outcome(reply: Reply): AddSessionResult {
  return reply === 'ok' ? { ok: true } : { ok: false, limit: reply as Limit }
}
