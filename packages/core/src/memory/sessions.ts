/**
 * The in-process session store: live connection records, indexed by user, IP and channel, with
 * the caps checked atomically on add.
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
} from '../store-contracts.js'
import { countOption } from '../validate.js'

/** Options of {@link MemorySessionStore}. */
export interface MemorySessionStoreOptions {
  /**
   * How many records the store holds, whatever the caps passed to `add` say; an add beyond it
   * resolves `{ ok: false, limit: 'total' }`.
   * @default 1000000
   */
  readonly maxSessions?: number | undefined
}

/**
 * Ids by user, IP or channel. A key with one id holds the id itself, a set only from the second
 * on: most users have one connection, and a set costs about 150 bytes.
 */
type Index = Map<string, string | Set<string>>

const accepted: AddSessionResult = Object.freeze({ ok: true })
const none: ReadonlySet<string> = new Set()
const noChannels: readonly string[] = Object.freeze([])

/**
 * The in-process {@link SessionStore}: records by id, indexed by user, IP and channel, so that
 * lookups cost O(1) plus the size of the answer. It sees this process's connections only; share
 * a Redis or SQL store across instances.
 *
 * Records are frozen copies: what `add` is given is copied, what the store hands out cannot be
 * changed. Caps are checked in the same synchronous step as the insert, so concurrent adds never
 * exceed them. When several caps would be exceeded, the first of user, IP, total is reported.
 * IPs are compared as given.
 */
export class MemorySessionStore implements SessionStore {
  readonly #max: number
  readonly #records = new Map<string, SessionRecord>()
  readonly #byUser: Index = new Map()
  readonly #byIp: Index = new Map()
  readonly #byChannel: Index = new Map()

  constructor(options: MemorySessionStoreOptions = {}) {
    this.#max = countOption('MemorySessionStore', 'maxSessions', options.maxSessions, 1_000_000)
  }

  async add(record: SessionRecord, caps: ConnectionCaps = {}): Promise<AddSessionResult> {
    return this.addSync(record, caps)
  }

  /** {@link add}, answered synchronously (for in-process composition, as the memory admission). */
  addSync(record: SessionRecord, caps: ConnectionCaps = {}): AddSessionResult {
    const previous = this.#records.get(record.id)
    const limit = this.#exceeded(record, previous, caps)
    if (limit !== undefined) return { ok: false, limit }
    if (previous !== undefined) this.#unindex(previous)
    this.#index(
      Object.freeze({
        id: record.id,
        userId: record.userId,
        instanceId: record.instanceId,
        ip: record.ip,
        channels:
          record.channels.length === 0 ? noChannels : Object.freeze([...new Set(record.channels)]),
        connectedAt: record.connectedAt,
        lastSeenAt: record.lastSeenAt,
      }),
    )
    return accepted
  }

  async remove(id: string): Promise<boolean> {
    const record = this.#records.get(id)
    if (record === undefined) return false
    this.#unindex(record)
    return true
  }

  async get(id: string): Promise<SessionRecord | null> {
    return this.#records.get(id) ?? null
  }

  async listByUser(userId: string): Promise<SessionRecord[]> {
    return this.#list(members(this.#byUser, userId))
  }

  async listByChannel(channel: string): Promise<SessionRecord[]> {
    return this.#list(members(this.#byChannel, channel))
  }

  async count(filter: SessionFilter = {}): Promise<number> {
    const sets: ReadonlySet<string>[] = []
    if (filter.userId !== undefined) sets.push(members(this.#byUser, filter.userId))
    if (filter.ip !== undefined) sets.push(members(this.#byIp, filter.ip))
    if (filter.channel !== undefined) sets.push(members(this.#byChannel, filter.channel))
    if (sets.length === 0) return this.#records.size
    sets.sort((a, b) => a.size - b.size)
    const [smallest, ...others] = sets as [ReadonlySet<string>, ...ReadonlySet<string>[]]
    let count = 0
    for (const id of smallest) if (others.every((set) => set.has(id))) count += 1
    return count
  }

  async stats(): Promise<SessionStats> {
    // fromEntries defines own properties, so a channel named `__proto__` is counted, not applied.
    const channels = Object.fromEntries(
      Array.from(this.#byChannel, ([channel, ids]) => [channel, sizeOf(ids)]),
    )
    return { connections: this.#records.size, users: this.#byUser.size, channels }
  }

  async join(id: string, channel: string): Promise<void> {
    const record = this.#records.get(id)
    if (record === undefined || record.channels.includes(channel)) return
    this.#records.set(
      id,
      Object.freeze({ ...record, channels: Object.freeze([...record.channels, channel]) }),
    )
    addTo(this.#byChannel, channel, id)
  }

  async leave(id: string, channel: string): Promise<void> {
    const record = this.#records.get(id)
    if (record === undefined || !record.channels.includes(channel)) return
    const channels = Object.freeze(record.channels.filter((joined) => joined !== channel))
    this.#records.set(id, Object.freeze({ ...record, channels }))
    removeFrom(this.#byChannel, channel, id)
  }

  async touch(ids: readonly string[], at: number): Promise<void> {
    for (const id of ids) {
      const record = this.#records.get(id)
      if (record !== undefined) this.#records.set(id, Object.freeze({ ...record, lastSeenAt: at }))
    }
  }

  async sweep(staleBefore: number): Promise<number> {
    let removed = 0
    // Deleting the entry being visited is safe while iterating a Map.
    for (const record of this.#records.values()) {
      if (record.lastSeenAt < staleBefore) {
        this.#unindex(record)
        removed += 1
      }
    }
    return removed
  }

  async countSweepable(staleBefore: number): Promise<number> {
    let count = 0
    for (const record of this.#records.values()) if (record.lastSeenAt < staleBefore) count += 1
    return count
  }

  /** Forgets every record. */
  async close(): Promise<void> {
    for (const map of [this.#records, this.#byUser, this.#byIp, this.#byChannel]) map.clear()
  }

  /** The cap `record` would exceed; a record it replaces does not count against it. */
  #exceeded(
    record: SessionRecord,
    previous: SessionRecord | undefined,
    caps: ConnectionCaps,
  ): 'user' | 'ip' | 'total' | undefined {
    const users = sizeOf(this.#byUser.get(record.userId))
    if (exceeds(users, previous?.userId === record.userId, caps.perUser)) return 'user'
    const ips = sizeOf(this.#byIp.get(record.ip))
    if (exceeds(ips, previous?.ip === record.ip, caps.perIp)) return 'ip'
    const total = Math.min(caps.total ?? Infinity, this.#max)
    if (exceeds(this.#records.size, previous !== undefined, total)) return 'total'
    return undefined
  }

  #index(record: SessionRecord): void {
    this.#records.set(record.id, record)
    addTo(this.#byUser, record.userId, record.id)
    addTo(this.#byIp, record.ip, record.id)
    for (const channel of record.channels) addTo(this.#byChannel, channel, record.id)
  }

  #unindex(record: SessionRecord): void {
    this.#records.delete(record.id)
    removeFrom(this.#byUser, record.userId, record.id)
    removeFrom(this.#byIp, record.ip, record.id)
    for (const channel of record.channels) removeFrom(this.#byChannel, channel, record.id)
  }

  #list(ids: ReadonlySet<string>): SessionRecord[] {
    const records: SessionRecord[] = []
    // Every indexed id has a record: the maps change together.
    for (const id of ids) records.push(this.#records.get(id) as SessionRecord)
    return records
  }
}

/** Whether one more record would pass `cap`, given `current` records of which one may be replaced. */
function exceeds(current: number, replacing: boolean, cap: number | undefined): boolean {
  return cap !== undefined && current - (replacing ? 1 : 0) >= cap
}

/** The ids under `key`, as a set (made for the call when there is one id). */
function members(index: Index, key: string): ReadonlySet<string> {
  const ids = index.get(key)
  if (ids === undefined) return none
  return typeof ids === 'string' ? new Set([ids]) : ids
}

function sizeOf(ids: string | Set<string> | undefined): number {
  if (ids === undefined) return 0
  return typeof ids === 'string' ? 1 : ids.size
}

function addTo(index: Index, key: string, id: string): void {
  const ids = index.get(key)
  if (ids === undefined) index.set(key, id)
  else if (typeof ids === 'string') index.set(key, new Set([ids, id]))
  else ids.add(id)
}

function removeFrom(index: Index, key: string, id: string): void {
  // Every key of a stored record is indexed: the maps change together.
  const ids = index.get(key) as string | Set<string>
  if (typeof ids === 'string') {
    index.delete(key)
    return
  }
  ids.delete(id)
  // Down to one id: the index holds it alone again.
  if (ids.size === 1) index.set(key, ids.values().next().value as string)
}
