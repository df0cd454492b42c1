/**
 * The SQL session store: live connections and their channels as rows, their lookups, joins and
 * leaves, touches, stats and the sweep of stale records. The capped add is in `sessions-add.ts`.
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
import { countWhere, retryDeadlocks, str, type Row } from './database.js'
import { closer, key, resolve, time, type Resolved, type SqlStoreOptions } from './options.js'
import { addSession, SESSION_COLUMNS as columns } from './sessions-add.js'

/**
 * The {@link SessionStore} on PostgreSQL or MySQL/MariaDB: one row per connection in
 * `<prefix>sessions`, its channels in `<prefix>session_channels`, every lookup on an index.
 *
 * `add` runs in one transaction. For a per-user or per-IP cap it first takes a lock on that user
 * or IP (`pg_advisory_xact_lock` on PostgreSQL, `GET_LOCK` on MySQL), then counts: adds for the
 * same user or IP take turns, cluster-wide, so none can pass the cap. The total is guarded by
 * one counter row, raised with a conditional `UPDATE` (see `<prefix>counters` in the README).
 * Records are returned as new objects.
 */
export class SqlSessionStore implements SessionStore {
  readonly #s: Resolved
  readonly #select: string
  readonly #close: () => Promise<void>

  constructor(options: SqlStoreOptions) {
    this.#s = resolve('SqlSessionStore', options)
    const { sessions, channels } = this.#s.tables
    this.#select =
      `SELECT s.${columns.join(', s.')}, c.channel FROM ${sessions} s ` +
      `LEFT JOIN ${channels} c ON c.session_id = s.id`
    this.#close = closer(this.#s)
  }

  /** Ends the pool if the store created it from `url`; a pool it was given stays open. */
  close(): Promise<void> {
    return this.#close()
  }

  add(record: SessionRecord, caps: ConnectionCaps = {}): Promise<AddSessionResult> {
    return addSession(this.#s, record, caps)
  }

  async remove(id: string): Promise<boolean> {
    const { count } = await this.#s.db.run(`DELETE FROM ${this.#s.tables.sessions} WHERE id = ?`, [
      key('sessions.remove(id)', id),
    ])
    return count > 0
  }

  /** One `DELETE` per `batchSize` ids; the channel rows go with their sessions, as in `remove`. */
  async removeMany(ids: readonly string[]): Promise<number> {
    const { db, tables, batchSize } = this.#s
    const valid = ids.map((id) => key('sessions.removeMany(ids)', id))
    const sql = db.dialect.deleteAnyOf(tables.sessions, 'id')
    let removed = 0
    for (let i = 0; i < valid.length; i += batchSize) {
      const batch = valid.slice(i, i + batchSize)
      // A deadlock's victim against a touch or a sweep of the same rows is one statement,
      // rolled back whole: it runs again.
      removed += (await retryDeadlocks(() => db.run(sql, [batch]))).count
    }
    return removed
  }

  async get(id: string): Promise<SessionRecord | null> {
    const [record] = await this.#list('WHERE s.id = ?', key('sessions.get(id)', id))
    return record ?? null
  }

  async listByUser(userId: string): Promise<SessionRecord[]> {
    return this.#list('WHERE s.user_id = ?', key('sessions.listByUser(userId)', userId))
  }

  async listByChannel(channel: string): Promise<SessionRecord[]> {
    const { channels } = this.#s.tables
    const where = `WHERE s.id IN (SELECT session_id FROM ${channels} WHERE channel = ?)`
    return this.#list(where, key('sessions.listByChannel(channel)', channel))
  }

  async count(filter: SessionFilter = {}): Promise<number> {
    const where: string[] = []
    const params: string[] = []
    if (filter.userId !== undefined) {
      where.push('s.user_id = ?')
      params.push(key('sessions.count(filter.userId)', filter.userId))
    }
    if (filter.ip !== undefined) {
      where.push('s.ip = ?')
      params.push(key('sessions.count(filter.ip)', filter.ip))
    }
    if (filter.channel !== undefined) {
      const { channels } = this.#s.tables
      where.push(`EXISTS (SELECT 1 FROM ${channels} c WHERE c.session_id = s.id AND c.channel = ?)`)
      params.push(key('sessions.count(filter.channel)', filter.channel))
    }
    const clause = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''
    const sql = `SELECT COUNT(*) AS n FROM ${this.#s.tables.sessions} s${clause}`
    const { rows } = await this.#s.db.run(sql, params)
    return Number((rows[0] as Row).n)
  }

  async stats(): Promise<SessionStats> {
    const { sessions, channels } = this.#s.tables
    // One statement, so the totals and the channel counts come from one snapshot.
    const { rows } = await this.#s.db.run(
      `SELECT NULL AS channel, COUNT(*) AS n, COUNT(DISTINCT user_id) AS users FROM ${sessions} ` +
        `UNION ALL SELECT channel, COUNT(*), 0 FROM ${channels} GROUP BY channel`,
    )
    const totals = rows.find((row) => row.channel === null) as Row
    const members = rows.filter((row) => row.channel !== null)
    return {
      connections: Number(totals.n),
      users: Number(totals.users),
      // fromEntries defines own properties, so a channel named `__proto__` is counted.
      channels: Object.fromEntries(members.map((row) => [str(row.channel), Number(row.n)])),
    }
  }

  async join(id: string, channel: string): Promise<void> {
    const { db, tables } = this.#s
    const source = `SELECT id, ? FROM ${tables.sessions} WHERE id = ?`
    const sql = db.dialect.insertIgnore(tables.channels, 'session_id, channel', source)
    try {
      await db.run(sql, [key('sessions.join(channel)', channel), key('sessions.join(id)', id)])
    } catch (error) {
      // The record was removed between the SELECT and the insert: a join of an unknown id.
      if ((error as { code?: unknown } | null)?.code !== '23503') throw error
    }
  }

  async leave(id: string, channel: string): Promise<void> {
    await this.#s.db.run(
      `DELETE FROM ${this.#s.tables.channels} WHERE session_id = ? AND channel = ?`,
      [key('sessions.leave(id)', id), key('sessions.leave(channel)', channel)],
    )
  }

  async touch(ids: readonly string[], at: number): Promise<void> {
    const { db, tables, batchSize } = this.#s
    const when = time('sessions.touch(at)', at)
    const valid = ids.map((id) => key('sessions.touch(ids)', id))
    // Rows locked in id order: two touches of overlapping ids wait for each other, never deadlock.
    const sql = db.dialect.updateAnyOf(tables.sessions, 'id', 'last_seen_at = ?')
    for (let i = 0; i < valid.length; i += batchSize) {
      const ids = valid.slice(i, i + batchSize)
      // InnoDB may still pick a touch as a deadlock's victim against a sweep (they also meet on
      // the last_seen_at index). One statement: run it again.
      await retryDeadlocks(() => db.readCommitted(sql, [when, ids]))
    }
  }

  async sweep(staleBefore: number): Promise<number> {
    const { db, tables, batchSize } = this.#s
    const before = time('sessions.sweep(staleBefore)', staleBefore)
    return db.sweep(tables.sessions, 'id', 'last_seen_at < ?', [before], batchSize)
  }

  async countSweepable(staleBefore: number): Promise<number> {
    const { db, tables } = this.#s
    const before = time('sessions.countSweepable(staleBefore)', staleBefore)
    return countWhere(db, tables.sessions, 'last_seen_at < ?', [before])
  }

  async #list(where: string, param: string): Promise<SessionRecord[]> {
    const { rows } = await this.#s.db.run(`${this.#select} ${where}`, [param])
    const records = new Map<string, SessionRecord & { channels: string[] }>()
    for (const row of rows) {
      const id = str(row.id)
      let record = records.get(id)
      if (record === undefined) {
        record = {
          id,
          userId: str(row.user_id),
          instanceId: str(row.instance_id),
          ip: str(row.ip),
          channels: [],
          connectedAt: Number(row.connected_at),
          lastSeenAt: Number(row.last_seen_at),
        }
        records.set(id, record)
      }
      if (row.channel !== null) record.channels.push(str(row.channel))
    }
    return [...records.values()]
  }
}
