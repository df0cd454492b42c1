/**
 * The SQL session store: live connections and their channels as rows, adds that never exceed the
 * user, IP and total caps, joins, touches, stats and the sweep of stale records.
 */
import {
  positiveInteger,
  type AddSessionResult,
  type ConnectionCaps,
  type SessionFilter,
  type SessionRecord,
  type SessionStats,
  type SessionStore,
} from '@ws-warden/core/stores'
import {
  Committed,
  countWhere,
  retryDeadlocks,
  Rollback,
  str,
  type Row,
  type Run,
} from './database.js'
import { closer, key, resolve, time, type Resolved, type SqlStoreOptions } from './options.js'

const accepted: AddSessionResult = Object.freeze({ ok: true })
/** A PostgreSQL add found the session bound at the cap: it runs again, counting. */
const AT_CAP = Symbol('at the cap')
type AddOutcome = AddSessionResult | typeof AT_CAP
const REFUSED_TOTAL: AddSessionResult = Object.freeze({ ok: false, limit: 'total' })
/** The columns of a session row, in the order of {@link Add.values}. */
export const SESSION_COLUMNS = [
  'id',
  'user_id',
  'instance_id',
  'ip',
  'connected_at',
  'last_seen_at',
] as const
const columns = SESSION_COLUMNS

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

  async add(record: SessionRecord, caps: ConnectionCaps = {}): Promise<AddSessionResult> {
    const { db } = this.#s
    const add = prepareAdd(record, caps)
    const { checks } = add
    // Session records are soft state, so an add commits without waiting for the flush to disk
    // (PostgreSQL; see Dialect.begin): it is visible to every instance at once, and only a crash
    // of the database server itself can lose it, with at most the adds of the last few hundred
    // milliseconds (3 x wal_writer_delay). The WAL is replayed in order, so the recovered tables
    // are a state they once were in: never half an add, and the total's bound still at or above
    // the count. A lost add is a connection the cluster does not count until it ends: after such
    // a crash, and until those connections end, the caps can be passed by that many. Token ids
    // and rate-limit windows keep durable commits: a lost consume would let a token be used
    // again, a lost hit let a client past its limit, and no sweep repairs either.
    const locks = checks.map((check) => check.lock)
    if (db.dialect.name === 'mysql') {
      return db.transaction(locks, (run) => this.#addOnMySql(run, add), true)
    }
    const outcome = await db.transaction(locks, (run) => this.#addOnPostgres(run, add, false), true)
    if (outcome !== AT_CAP) return outcome
    const recounted = db.transaction(locks, (run) => this.#addOnPostgres(run, add, true), true)
    return (await recounted) as AddSessionResult
  }

  /**
   * The add on PostgreSQL: three round trips. The cap locks come with `BEGIN`; one statement
   * counts under them and, if there is room, inserts (or replaces) the record and its channels;
   * the last raises the session bound and commits, in one round trip, so that the bound's row is
   * locked for no longer than the server takes to commit (every add raises it: the one row all
   * adds share). The bound check cannot return its answer before that `COMMIT`: when the bound is
   * at the cap (or its row is missing) it divides by zero instead, which aborts the transaction,
   * and the add runs again with `recount` (a count under the row's lock).
   */
  async #addOnPostgres(
    run: Run,
    add: Add,
    recount: boolean,
  ): Promise<AddOutcome | Committed<AddOutcome>> {
    const { sessions, channels, counters } = this.#s.tables
    const { id, values, joined, checks, total } = add
    // The record's own id does not count: a replacement is not one more connection.
    const counts = checks.map(
      ({ where }, i) => `(SELECT COUNT(*) FROM ${sessions} WHERE ${where} AND id <> ?) AS n${i}`,
    )
    const room = checks.map((_, i) => `n${i} < ?`)
    const { rows } = await run(
      `WITH c AS (SELECT ${['1 AS one', ...counts].join(', ')}), ` +
        `up AS (INSERT INTO ${sessions} (${columns.join(', ')}) ` +
        `SELECT ?, ?, ?, ?, ?::bigint, ?::bigint FROM c${room.length > 0 ? ` WHERE ${room.join(' AND ')}` : ''} ` +
        `ON CONFLICT (id) DO UPDATE SET ${columns
          .slice(1)
          .map((column) => `${column} = EXCLUDED.${column}`)
          .join(', ')} RETURNING id), ` +
        // Channels it no longer has go, new ones come: no row is both deleted and inserted.
        `gone AS (DELETE FROM ${channels} WHERE session_id IN (SELECT id FROM up) ` +
        'AND channel <> ALL(?::text[])), ' +
        `joined AS (INSERT INTO ${channels} (session_id, channel) ` +
        'SELECT up.id, ch FROM up, unnest(?::text[]) AS ch ON CONFLICT DO NOTHING) ' +
        'SELECT c.*, EXISTS (SELECT 1 FROM up) AS added FROM c',
      [
        ...checks.flatMap(({ param }) => [param, id]),
        ...values,
        ...checks.map(({ cap }) => cap),
        joined,
        joined,
      ],
    )
    const row = rows[0] as Row
    if (row.added !== true) {
      const full = checks.find(({ cap }, i) => Number(row[`n${i}`]) >= cap) as CapCheck
      return { ok: false, limit: full.limit }
    }
    if (recount) {
      if (!(await this.#recount(run, id, total as number))) throw new Rollback(REFUSED_TOTAL)
      return accepted
    }
    // Written into the text (a query of several statements takes no parameters): a table name
    // checked at construction and a positive integer.
    const raise = `UPDATE ${counters} SET value = value + 1 WHERE name = 'sessions'`
    if (total === undefined) return (void (await run(`${raise}; COMMIT`)), new Committed(accepted))
    try {
      await run(
        `WITH b AS (${raise} AND value < ${total} RETURNING 1) SELECT 1 / COUNT(*) FROM b; COMMIT`,
      )
    } catch (error) {
      if ((error as { code?: unknown } | null)?.code === '22012') throw new Rollback(AT_CAP)
      throw error
    }
    return new Committed(accepted)
  }

  /** The add on MySQL, after the cap locks: a statement for each step. */
  async #addOnMySql(run: Run, add: Add): Promise<AddSessionResult> {
    const { db, tables } = this.#s
    const { id, values, joined, checks, total } = add
    if (checks.length > 0) {
      // The record's own id does not count: a replacement is not one more connection.
      const counts = checks.map(({ where }, i) => {
        return `(SELECT COUNT(*) FROM ${tables.sessions} WHERE ${where} AND id <> ?) AS n${i}`
      })
      const params = checks.flatMap(({ param }) => [param, id])
      const { rows } = await run(`SELECT ${counts.join(', ')}`, params)
      const row = rows[0] as Row
      const full = checks.find(({ cap }, i) => Number(row[`n${i}`]) >= cap)
      if (full !== undefined) return { ok: false, limit: full.limit }
    }
    await run(db.dialect.upsert(tables.sessions, columns), values)
    await run(`DELETE FROM ${tables.channels} WHERE session_id = ?`, [id])
    if (joined.length > 0) {
      await run(
        `INSERT INTO ${tables.channels} (session_id, channel) VALUES ${joined.map(() => '(?, ?)').join(', ')}`,
        joined.flatMap((channel) => [id, channel]),
      )
    }
    // Last, so that the counter row stays locked for the COMMIT's round trip only.
    if (!(await this.#countOneMore(run, id, total))) {
      throw new Rollback({ ok: false, limit: 'total' })
    }
    return accepted
  }

  async remove(id: string): Promise<boolean> {
    const { count } = await this.#s.db.run(`DELETE FROM ${this.#s.tables.sessions} WHERE id = ?`, [
      key('sessions.remove(id)', id),
    ])
    return count > 0
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

  /**
   * Raises the session bound (an upper bound of the record count, kept in `<prefix>counters`)
   * for one more record; false if that would pass `cap`. The bound is only ever raised, by every
   * add; removals leave it alone, so it is never below the true count. Only when it reaches the
   * cap is the table counted (under the counter's row lock) and the bound lowered to the truth.
   * So the total cap costs one row update per add, not a count, until the store is nearly full.
   */
  async #countOneMore(run: Run, id: string, cap: number | undefined): Promise<boolean> {
    const { tables } = this.#s
    const raise = `UPDATE ${tables.counters} SET value = value + 1 WHERE name = 'sessions'`
    if (cap === undefined) return (void (await run(raise)), true)
    if ((await run(`${raise} AND value < ?`, [cap])).count > 0) return true
    return this.#recount(run, id, cap)
  }

  /**
   * The bound reached `cap` (or its row is gone): counts the records other than `id` under the
   * counter's row lock, and if there is room sets the bound to that count plus this one.
   */
  async #recount(run: Run, id: string, cap: number): Promise<boolean> {
    const { db, tables } = this.#s
    await run(`SELECT value FROM ${tables.counters} WHERE name = 'sessions' FOR UPDATE`)
    const { rows } = await run(`SELECT COUNT(*) AS n FROM ${tables.sessions} WHERE id <> ?`, [id])
    const count = Number((rows[0] as Row).n)
    if (count >= cap) return false
    await run(db.dialect.upsert(tables.counters, ['name', 'value']), ['sessions', count + 1])
    return true
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

/**
 * An add on its way in: the record's columns (in the order of {@link SESSION_COLUMNS}) and
 * channels, and the caps it is checked against.
 */
export interface Add {
  readonly id: string
  readonly values: readonly unknown[]
  readonly joined: readonly string[]
  readonly checks: readonly CapCheck[]
  readonly total: number | undefined
}

/** Checks a record and its caps as `sessions.add` takes them; throws a `TypeError` if invalid. */
export function prepareAdd(record: SessionRecord, caps: ConnectionCaps = {}): Add {
  const values = [
    key('sessions.add(record.id)', record?.id),
    key('sessions.add(record.userId)', record.userId),
    key('sessions.add(record.instanceId)', record.instanceId),
    key('sessions.add(record.ip)', record.ip),
    time('sessions.add(record.connectedAt)', record.connectedAt),
    time('sessions.add(record.lastSeenAt)', record.lastSeenAt),
  ]
  const joined = [...new Set(record.channels)].map((c) => key('sessions.add(record.channels)', c))
  const checks = capChecks(record, caps)
  const total = caps.total === undefined ? undefined : positiveInteger('caps.total', caps.total)
  return { id: record.id, values, joined, checks, total }
}

/** A per-user or per-IP cap: what it reports, the lock that serialises it, what it counts. */
export interface CapCheck {
  readonly limit: 'user' | 'ip'
  readonly lock: string
  readonly cap: number
  readonly where: string
  readonly param: string
}

/** The per-user and per-IP checks of `caps`, user first (as the memory store reports them). */
function capChecks(record: SessionRecord, caps: ConnectionCaps): CapCheck[] {
  const checks: CapCheck[] = []
  if (caps.perUser !== undefined) {
    const cap = positiveInteger('caps.perUser', caps.perUser)
    const { userId } = record
    checks.push({ limit: 'user', lock: `user:${userId}`, cap, where: 'user_id = ?', param: userId })
  }
  if (caps.perIp !== undefined) {
    const cap = positiveInteger('caps.perIp', caps.perIp)
    checks.push({ limit: 'ip', lock: `ip:${record.ip}`, cap, where: 'ip = ?', param: record.ip })
  }
  return checks
}
