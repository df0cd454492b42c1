import type {
  AddSessionResult,
  ConnectionCaps,
  SessionFilter,
  SessionRecord,
  SessionStats,
  SessionStore,
} from '@ws-warden/core/stores'
import { defineScript, positive, storeOptions } from './client.js'
import type { RedisStoreOptions, Reply } from './client.js'
import { SESSION_SCRIPTS } from './scripts.js'

/** Options of {@link RedisSessionStore}. */
export interface RedisSessionStoreOptions extends RedisStoreOptions {
  /**
   * Lifetime of the session keys, refreshed by every add, join and touch: if every instance
   * stops, the records vanish this long after the last write. Keep it far above the heartbeat
   * interval (touches refresh it).
   * @default 86400000 (one day)
   */
  readonly ttlMs?: number | undefined
}

/** The key names, in the order every session script takes them (see `scripts.ts`). */
const KEY_NAMES = ['records', 'seen', 'by-user', 'by-ip', 'by-channel', 'users', 'ips', 'channels']
/** Ids per touch script, records per sweep script: bounds the time one script holds Redis. */
const BATCH = 1000

type Script = ReturnType<typeof defineScript>
type ScriptName = keyof typeof SESSION_SCRIPTS

/**
 * The session registry in Redis, shared by every instance. All of it lives in eight keys under
 * one hash tag (`{<prefix>:sessions}:*`, so one Cluster slot): every write is one Lua script, so
 * caps are checked atomically with the insert, and lookups by user or channel are lex ranges of
 * an index (O(log n + answer)). Stats come from maintained counters, never a scan.
 */
export class RedisSessionStore implements SessionStore {
  readonly #keys: string[]
  readonly #ttl: number
  readonly #run: Record<ScriptName, Script>

  constructor(options: RedisSessionStoreOptions) {
    const { client, prefix } = storeOptions('RedisSessionStore', options)
    this.#ttl = positive('RedisSessionStore option ttlMs', options.ttlMs, 86_400_000)
    this.#keys = KEY_NAMES.map((name) => `{${prefix}:sessions}:${name}`)
    const scripts = Object.entries(SESSION_SCRIPTS).map(([name, lua]) => {
      return [name, defineScript(client, `wsWardenSession_${name}`, KEY_NAMES.length, lua)]
    })
    this.#run = Object.fromEntries(scripts) as Record<ScriptName, Script>
  }

  async add(record: SessionRecord, caps: ConnectionCaps = {}): Promise<AddSessionResult> {
    const { id, userId, instanceId, ip, connectedAt } = record
    const stored = { userId, instanceId, ip, channels: [...new Set(record.channels)], connectedAt }
    const capArgs = [caps.perUser, caps.perIp, caps.total].map((cap) => cap ?? '')
    const json = JSON.stringify(stored)
    const result = await this.#call('add', id, json, record.lastSeenAt, ...capArgs, this.#ttl)
    return result === 'ok' ? { ok: true } : { ok: false, limit: result as 'user' | 'ip' | 'total' }
  }

  async remove(id: string): Promise<boolean> {
    return (await this.#call('remove', id)) === 1
  }

  async get(id: string): Promise<SessionRecord | null> {
    return (await this.#read('id', id))[0] ?? null
  }

  listByUser(userId: string): Promise<SessionRecord[]> {
    return this.#read('user', userId)
  }

  listByChannel(channel: string): Promise<SessionRecord[]> {
    return this.#read('channel', channel)
  }

  async count(filter: SessionFilter = {}): Promise<number> {
    const args: (string | number)[] = []
    if (filter.userId !== undefined) args.push(3, filter.userId)
    if (filter.ip !== undefined) args.push(4, filter.ip)
    if (filter.channel !== undefined) args.push(5, filter.channel)
    return Number(await this.#call('count', ...args))
  }

  async stats(): Promise<SessionStats> {
    const [connections, users, flat] = (await this.#call('stats')) as [number, number, string[]]
    const counts: [string, number][] = []
    for (let i = 0; i < flat.length; i += 2) counts.push([flat[i] as string, Number(flat[i + 1])])
    // fromEntries defines own properties: a channel named `__proto__` is counted, not applied.
    const channels = Object.fromEntries(counts)
    return { connections, users, channels }
  }

  async join(id: string, channel: string): Promise<void> {
    await this.#call('move', id, channel, 1, this.#ttl)
  }

  async leave(id: string, channel: string): Promise<void> {
    await this.#call('move', id, channel, -1, this.#ttl)
  }

  async touch(ids: readonly string[], at: number): Promise<void> {
    const batches: Promise<Reply>[] = []
    for (let i = 0; i < ids.length; i += BATCH) {
      batches.push(this.#call('touch', at, this.#ttl, ...ids.slice(i, i + BATCH)))
    }
    await Promise.all(batches)
  }

  async sweep(staleBefore: number): Promise<number> {
    let removed = 0
    for (;;) {
      const [records, scanned] = (await this.#call('sweep', staleBefore, BATCH)) as number[]
      removed += records as number
      if (scanned !== BATCH) return removed
    }
  }

  async countSweepable(staleBefore: number): Promise<number> {
    return Number(await this.#call('countStale', staleBefore))
  }

  #call(script: ScriptName, ...args: (string | number)[]): Promise<Reply> {
    return this.#run[script](...this.#keys, ...args)
  }

  async #read(kind: 'id' | 'user' | 'channel', value: string): Promise<SessionRecord[]> {
    const flat = (await this.#call('read', kind, value)) as string[]
    const records: SessionRecord[] = []
    for (let i = 0; i < flat.length; i += 3) {
      const stored = JSON.parse(flat[i + 1] as string) as Omit<SessionRecord, 'id' | 'lastSeenAt'>
      // A channel list emptied by a script comes back as `{}` (Lua cannot tell [] from {}).
      const channels = Array.isArray(stored.channels) ? stored.channels : []
      const id = flat[i] as string
      const lastSeenAt = Number(flat[i + 2])
      records.push(Object.freeze({ ...stored, id, channels: Object.freeze(channels), lastSeenAt }))
    }
    return records
  }
}
