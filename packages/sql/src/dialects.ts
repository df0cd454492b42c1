/**
 * The PostgreSQL and MySQL/MariaDB dialects behind one interface: connections, transactions and
 * their advisory locks, rate-limit hits, and the SQL that differs between the two.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import type { MySqlPool, PgPool, PgResult, Result, Row, Run } from './driver.js'

/** A connection checked out for a few statements. */
export interface Connection {
  readonly run: Run
  /** Returns it to the pool, or with `destroy` closes it (the server rolls back, frees locks). */
  release(destroy: boolean): void
}

/** One fixed-window hit as the database counted it. */
export interface Hit {
  readonly hits: number
  /** `undefined` when the dialect cannot tell it in the same statement (MySQL). */
  readonly expiresAt: number | undefined
}

/**
 * What differs between PostgreSQL and MySQL/MariaDB: getting a connection, locking, and a few
 * clauses. Everything else is written once, with `?` placeholders.
 */
export interface Dialect {
  readonly name: 'postgres' | 'mysql'
  readonly pool: PgPool | MySqlPool
  connect(): Promise<Connection>
  /**
   * Starts a transaction that holds the named locks, taken in one fixed (sorted) order. `soft`
   * (PostgreSQL): its commit returns before the commit record is flushed to disk
   * (`synchronous_commit = off`): visible to every other transaction at once, and lost only if
   * the server itself crashes in the next few hundred milliseconds. MySQL has no such setting for
   * one transaction (`innodb_flush_log_at_trx_commit` is server-wide): ignored there.
   */
  begin(run: Run, locks: readonly string[], soft: boolean): Promise<void>
  /** Ends the transaction with `COMMIT` or `ROLLBACK`, and frees the locks `begin` took. */
  end(run: Run, locks: readonly string[], how: 'COMMIT' | 'ROLLBACK'): Promise<void>
  /** `INSERT` of `source` (`VALUES (...)` or a `SELECT`) that skips rows whose key exists. */
  insertIgnore(table: string, columns: string, source: string): string
  /** `INSERT` that overwrites every column but the first (the key) when the key exists. */
  upsert(table: string, columns: readonly string[]): string
  /**
   * An `UPDATE` of the rows whose `key` is any element of one array parameter (after those of
   * `set`) that locks them in `key` order, whatever the plan: two such updates of overlapping
   * keys then wait for each other instead of deadlocking.
   */
  updateAnyOf(table: string, key: string, set: string): string
  /** A `DELETE` of the rows whose primary `key` is any element of one array parameter. */
  deleteAnyOf(table: string, key: string): string
  /**
   * What follows a table name in `FROM` to make the scan use the index `name` (MySQL's name of
   * it; PostgreSQL has no hints, and none is needed there).
   */
  byIndex(name: string): string
  /** The clause that makes a `SELECT` take a shared lock on the rows it reads. */
  readonly forShare: string
  /**
   * `INSERT` of one row that, when its key (the first column) exists, locks the existing row
   * instead, changing nothing: what takes a row lock whether or not the row is there yet.
   */
  insertOrLock(table: string, columns: readonly string[]): string
  /** A `DELETE` of at most `batch` rows matching `where`, and its parameters. */
  deleteBatch(
    table: string,
    key: string,
    where: string,
    params: readonly unknown[],
    batch: number,
  ): [string, unknown[]]
  /**
   * Runs one statement as its own transaction at `READ COMMITTED`, the level every transaction
   * here runs at (PostgreSQL's default; MySQL's is `REPEATABLE READ`, where a `DELETE` that scans
   * takes next-key locks that block inserts into every gap it passed).
   */
  readCommitted(run: Run, sql: string, params: readonly unknown[]): Promise<Result>
  /** Counts one hit in the fixed window of `name`, opening a new window if the last one ended. */
  hit(run: Run, table: string, name: string, now: number, windowMs: number): Promise<Hit>
  /**
   * The server's keys of the named locks, in the order `begin` takes them: PostgreSQL advisory
   * lock ids (64-bit, as decimal strings), MySQL `GET_LOCK` names.
   */
  lockKeys(locks: readonly string[]): string[]
}

/** A SHA-256 digest, for lock ids and over-long names. */
export const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

const ignore = () => {}
/** `INSERT INTO table (columns) VALUES (?, ...)`. */
const insert = (table: string, columns: readonly string[]) =>
  `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`

/** PostgreSQL advisory lock ids of the named locks, ascending. */
function advisoryIds(locks: readonly string[]): bigint[] {
  const ids = locks.map((lock) => digest(lock).readBigInt64BE(0))
  return ids.sort((a, b) => (a < b ? -1 : 1))
}

export function postgres(pool: PgPool, timeoutMs: number): Dialect {
  return {
    name: 'postgres',
    pool,
    async connect() {
      const client = await pool.connect()
      // A connection lost while checked out emits `error` (its query rejects as well).
      client.on('error', ignore)
      const run: Run = async (sql, params = [], prepared) => {
        let n = 0
        const text = sql.replace(/\?/g, () => `$${++n}`)
        const values = [...params]
        const answer = await client.query(
          prepared === undefined
            ? { text, values, query_timeout: timeoutMs }
            : { name: prepared, text, values, query_timeout: timeoutMs },
        )
        // Several statements (only without parameters) answer one result each: the last counts.
        const result = Array.isArray(answer) ? (answer.at(-1) as PgResult) : answer
        return { rows: result.rows, count: result.rowCount ?? 0, insertId: 0 }
      }
      const release = (destroy: boolean) => {
        client.removeListener('error', ignore)
        client.release(destroy)
      }
      return { run, release }
    },
    async begin(run, locks, soft) {
      // Transaction-level advisory locks: freed by COMMIT, ROLLBACK or a lost connection. Their
      // ids are numbers we computed, written into the text: one round trip (a query without
      // parameters may hold several statements) instead of two.
      const ids = advisoryIds(locks)
      const statements = [
        'BEGIN ISOLATION LEVEL READ COMMITTED',
        // The server gives up a lock wait before the client gives up the statement.
        `SET LOCAL lock_timeout = ${Math.ceil(timeoutMs / 2)}`,
        ...(soft ? ['SET LOCAL synchronous_commit = off'] : []),
        ...(ids.length > 0
          ? [`SELECT ${ids.map((id) => `pg_advisory_xact_lock('${id}'::bigint)`).join(', ')}`]
          : []),
      ]
      await run(statements.join('; '))
    },
    end: async (run, _locks, how) => void (await run(how)),
    readCommitted: (run, sql, params) => run(sql, params),
    insertIgnore: (table, columns, source) =>
      `INSERT INTO ${table} (${columns}) ${source} ON CONFLICT DO NOTHING`,
    upsert: (table, columns) =>
      `${insert(table, columns)} ON CONFLICT (${columns[0]}) DO UPDATE SET ` +
      `${columns
        .slice(1)
        .map((c) => `${c} = EXCLUDED.${c}`)
        .join(', ')}`,
    // A plain UPDATE locks rows in the order its plan meets them (index order for a few ids, heap
    // order for a bitmap scan of many): the locking sub-select sorts them first.
    updateAnyOf: (table, key, set) =>
      `UPDATE ${table} AS t SET ${set} FROM (SELECT ${key} FROM ${table} ` +
      `WHERE ${key} = ANY(?) ORDER BY ${key} FOR UPDATE) AS l WHERE t.${key} = l.${key}`,
    deleteAnyOf: (table, key) => `DELETE FROM ${table} WHERE ${key} = ANY(?)`,
    byIndex: () => '',
    forShare: 'FOR SHARE',
    insertOrLock: (table, columns) =>
      `${insert(`${table} AS r`, columns)} ` +
      `ON CONFLICT (${columns[0]}) DO UPDATE SET ${columns[1]} = r.${columns[1]}`,
    // No DELETE ... LIMIT here. The outer `where` is re-checked on a row changed since the inner
    // scan chose it (touched, or given a new window), so such a row stays. `key` may be several
    // columns (`stream, seq`).
    deleteBatch: (table, key, where, params, batch) => [
      `DELETE FROM ${table} WHERE ${where} AND (${key}) IN ` +
        `(SELECT ${key} FROM ${table} WHERE ${where} LIMIT ${batch})`,
      [...params, ...params],
    ],
    async hit(run, table, name, now, windowMs) {
      const { rows } = await run(
        `INSERT INTO ${table} AS r (name, hits, expires_at) VALUES (?, 1, ?) ` +
          'ON CONFLICT (name) DO UPDATE SET ' +
          'hits = CASE WHEN r.expires_at <= ? THEN 1 ELSE r.hits + 1 END, ' +
          'expires_at = CASE WHEN r.expires_at <= ? THEN EXCLUDED.expires_at ELSE r.expires_at END ' +
          'RETURNING hits, expires_at',
        [name, now + windowMs, now, now],
      )
      const row = rows[0] as Row
      return { hits: Number(row.hits), expiresAt: Number(row.expires_at) }
    },
    lockKeys: (locks) => advisoryIds(locks).map(String),
  }
}

export function mysql(pool: MySqlPool, timeoutMs: number): Dialect {
  // GET_LOCK names are server-wide and at most 64 characters.
  const names = (locks: readonly string[]) =>
    locks.map((lock) => `wsw:${digest(lock).toString('hex', 0, 24)}`).sort()
  return {
    name: 'mysql',
    pool,
    async connect() {
      const connection = await pool.getConnection()
      const run: Run = async (sql, params = []) => {
        const [result] = await connection.query({ sql, values: [...params], timeout: timeoutMs })
        if (Array.isArray(result))
          return { rows: result as Row[], count: result.length, insertId: 0 }
        const { affectedRows, insertId } = result as { affectedRows: number; insertId: number }
        return { rows: [], count: affectedRows, insertId: Number(insertId) }
      }
      // A query that timed out still occupies its connection: such a one is never handed back.
      const release = (destroy: boolean) => (destroy ? connection.destroy() : connection.release())
      return { run, release }
    },
    async begin(run, locks) {
      if (locks.length > 0) {
        // The server gives up a lock wait before the client gives up the statement.
        const seconds = timeoutMs / 2000
        const calls = names(locks).map((_, i) => `GET_LOCK(?, ${seconds}) AS l${i}`)
        const { rows } = await run(`SELECT ${calls.join(', ')}`, names(locks))
        if (Object.values(rows[0] as Row).some((got) => Number(got) !== 1)) {
          throw new Error(`ws-warden: lock wait exceeded ${seconds} s`)
        }
      }
      // Each statement sees what committed before it (as on PostgreSQL), not a snapshot taken
      // at the transaction's first read: counts taken after a lock must see its last holder's.
      await run('SET TRANSACTION ISOLATION LEVEL READ COMMITTED')
      await run('START TRANSACTION')
    },
    async readCommitted(run, sql, params) {
      // It applies to the next transaction only: this statement's.
      await run('SET TRANSACTION ISOLATION LEVEL READ COMMITTED')
      return run(sql, params)
    },
    async end(run, locks, how) {
      await run(how)
      if (locks.length === 0) return
      await run(`SELECT ${locks.map(() => 'RELEASE_LOCK(?)').join(', ')}`, names(locks))
    },
    insertIgnore: (table, columns, source) => `INSERT IGNORE INTO ${table} (${columns}) ${source}`,
    upsert: (table, columns) =>
      `${insert(table, columns)} ON DUPLICATE KEY UPDATE ` +
      `${columns
        .slice(1)
        .map((c) => `${c} = VALUES(${c})`)
        .join(', ')}`,
    // InnoDB reads an IN list on the primary key as sorted ranges: rows are locked in key order.
    // Forced, because on a table its statistics think small the optimizer prefers a full scan,
    // which waits for (and locks) every row another transaction holds, not just these.
    updateAnyOf: (table, key, set) =>
      `UPDATE ${table} FORCE INDEX (PRIMARY) SET ${set} WHERE ${key} IN (?)`,
    deleteAnyOf: (table, key) =>
      `DELETE t FROM ${table} AS t FORCE INDEX (PRIMARY) WHERE t.${key} IN (?)`,
    byIndex: (name) => `FORCE INDEX (${name})`,
    forShare: 'LOCK IN SHARE MODE',
    insertOrLock: (table, columns) =>
      `${insert(table, columns)} ON DUPLICATE KEY UPDATE ${columns[1]} = ${columns[1]}`,
    deleteBatch: (table, _key, where, params, batch) => [
      `DELETE FROM ${table} WHERE ${where} LIMIT ${batch}`,
      [...params],
    ],
    async hit(run, table, name, now, windowMs) {
      // `hits` is assigned first, so the `expires_at` test below still sees the old window. The
      // new count comes back as the insert id (LAST_INSERT_ID(expr)); a fresh row is 1 affected.
      const { count, insertId } = await run(
        `INSERT INTO ${table} (name, hits, expires_at) VALUES (?, 1, ?) ON DUPLICATE KEY UPDATE ` +
          'hits = LAST_INSERT_ID(IF(expires_at <= ?, 1, hits + 1)), ' +
          'expires_at = IF(expires_at <= ?, VALUES(expires_at), expires_at)',
        [name, now + windowMs, now, now],
      )
      return count === 1
        ? { hits: 1, expiresAt: now + windowMs }
        : { hits: insertId, expiresAt: undefined }
    },
    lockKeys: names,
  }
}
