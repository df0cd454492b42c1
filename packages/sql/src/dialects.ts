import { createHash } from 'node:crypto'
import type { MySqlPool, PgPool, Row, Run } from './database.js'

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
  /** Starts a transaction that holds the named locks, taken in one fixed (sorted) order. */
  begin(run: Run, locks: readonly string[]): Promise<void>
  /** Ends the transaction with `COMMIT` or `ROLLBACK`, and frees the locks `begin` took. */
  end(run: Run, locks: readonly string[], how: 'COMMIT' | 'ROLLBACK'): Promise<void>
  /** `INSERT` of `source` (`VALUES (...)` or a `SELECT`) that skips rows whose key exists. */
  insertIgnore(table: string, columns: string, source: string): string
  /** `INSERT` that overwrites every column but the first (the key) when the key exists. */
  upsert(table: string, columns: readonly string[]): string
  /** A predicate on `column` matching any element of one array parameter. */
  anyOf(column: string): string
  /** A `DELETE` of at most `batch` rows matching `where`, and its parameters. */
  deleteBatch(
    table: string,
    key: string,
    where: string,
    params: readonly unknown[],
    batch: number,
  ): [string, unknown[]]
  /** Counts one hit in the fixed window of `name`, opening a new window if the last one ended. */
  hit(run: Run, table: string, name: string, now: number, windowMs: number): Promise<Hit>
}

/** A SHA-256 digest, for lock ids and over-long names. */
export const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

const ignore = () => {}
/** `INSERT INTO table (columns) VALUES (?, ...)`. */
const insert = (table: string, columns: readonly string[]) =>
  `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`

export function postgres(pool: PgPool, timeoutMs: number): Dialect {
  return {
    name: 'postgres',
    pool,
    async connect() {
      const client = await pool.connect()
      // A connection lost while checked out emits `error` (its query rejects as well).
      client.on('error', ignore)
      const run: Run = async (sql, params = []) => {
        let n = 0
        const text = sql.replace(/\?/g, () => `$${++n}`)
        const result = await client.query({ text, values: [...params], query_timeout: timeoutMs })
        return { rows: result.rows, count: result.rowCount ?? 0, insertId: 0 }
      }
      const release = (destroy: boolean) => {
        client.removeListener('error', ignore)
        client.release(destroy)
      }
      return { run, release }
    },
    async begin(run, locks) {
      // The server gives up a lock wait before the client gives up the statement.
      await run(
        `BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = ${Math.ceil(timeoutMs / 2)}`,
      )
      // Transaction-level advisory locks: freed by COMMIT, ROLLBACK or a lost connection.
      const ids = locks.map((lock) => digest(lock).readBigInt64BE(0))
      ids.sort((a, b) => (a < b ? -1 : 1))
      if (ids.length === 0) return
      await run(
        `SELECT ${ids.map(() => 'pg_advisory_xact_lock(?::bigint)').join(', ')}`,
        ids.map(String),
      )
    },
    end: async (run, _locks, how) => void (await run(how)),
    insertIgnore: (table, columns, source) =>
      `INSERT INTO ${table} (${columns}) ${source} ON CONFLICT DO NOTHING`,
    upsert: (table, columns) =>
      `${insert(table, columns)} ON CONFLICT (${columns[0]}) DO UPDATE SET ` +
      `${columns
        .slice(1)
        .map((c) => `${c} = EXCLUDED.${c}`)
        .join(', ')}`,
    anyOf: (column) => `${column} = ANY(?)`,
    // No DELETE ... LIMIT here. The outer `where` is re-checked on a row changed since the inner
    // scan chose it (touched, or given a new window), so such a row stays.
    deleteBatch: (table, key, where, params, batch) => [
      `DELETE FROM ${table} WHERE ${where} AND ${key} IN ` +
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
    anyOf: (column) => `${column} IN (?)`,
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
  }
}
