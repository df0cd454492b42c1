/**
 * The add path of the SQL session store, shared with the one-round-trip admission: a record and
 * its caps checked and prepared ({@link prepareAdd}), and the capped insert on PostgreSQL and on
 * MySQL/MariaDB, with the session bound that guards the total cap.
 *
 * @module
 */
import {
  positiveInteger,
  type AddSessionResult,
  type ConnectionCaps,
  type SessionRecord,
} from '@ws-warden/core/stores'
import { Committed, Rollback, type Row, type Run } from './database.js'
import { key, time, type Resolved } from './options.js'

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
 * Adds `record` unless it would pass one of `caps` (see {@link SqlSessionStore}): in one
 * transaction, under the locks of its per-user and per-IP caps.
 */
export async function addSession(
  s: Resolved,
  record: SessionRecord,
  caps: ConnectionCaps = {},
): Promise<AddSessionResult> {
  const { db } = s
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
    return db.transaction(locks, (run) => addOnMySql(s, run, add), true)
  }
  const outcome = await db.transaction(locks, (run) => addOnPostgres(s, run, add, false), true)
  if (outcome !== AT_CAP) return outcome
  const recounted = db.transaction(locks, (run) => addOnPostgres(s, run, add, true), true)
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
async function addOnPostgres(
  s: Resolved,
  run: Run,
  add: Add,
  recount: boolean,
): Promise<AddOutcome | Committed<AddOutcome>> {
  const { sessions, channels, counters } = s.tables
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
    if (!(await recountBound(s, run, id, total as number))) throw new Rollback(REFUSED_TOTAL)
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
async function addOnMySql(s: Resolved, run: Run, add: Add): Promise<AddSessionResult> {
  const { db, tables } = s
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
  if (!(await countOneMore(s, run, id, total))) {
    throw new Rollback({ ok: false, limit: 'total' })
  }
  return accepted
}

/**
 * Raises the session bound (an upper bound of the record count, kept in `<prefix>counters`)
 * for one more record; false if that would pass `cap`. The bound is only ever raised, by every
 * add; removals leave it alone, so it is never below the true count. Only when it reaches the
 * cap is the table counted (under the counter's row lock) and the bound lowered to the truth.
 * So the total cap costs one row update per add, not a count, until the store is nearly full.
 */
async function countOneMore(
  s: Resolved,
  run: Run,
  id: string,
  cap: number | undefined,
): Promise<boolean> {
  const { tables } = s
  const raise = `UPDATE ${tables.counters} SET value = value + 1 WHERE name = 'sessions'`
  if (cap === undefined) return (void (await run(raise)), true)
  if ((await run(`${raise} AND value < ?`, [cap])).count > 0) return true
  return recountBound(s, run, id, cap)
}

/**
 * The bound reached `cap` (or its row is gone): counts the records other than `id` under the
 * counter's row lock, and if there is room sets the bound to that count plus this one.
 */
async function recountBound(s: Resolved, run: Run, id: string, cap: number): Promise<boolean> {
  const { db, tables } = s
  await run(`SELECT value FROM ${tables.counters} WHERE name = 'sessions' FOR UPDATE`)
  const { rows } = await run(`SELECT COUNT(*) AS n FROM ${tables.sessions} WHERE id <> ?`, [id])
  const count = Number((rows[0] as Row).n)
  if (count >= cap) return false
  await run(db.dialect.upsert(tables.counters, ['name', 'value']), ['sessions', count + 1])
  return true
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
