/**
 * The database the SQL stores share: pools from a URL, the dialect and namespace over them,
 * transactions with deadlock retries, the count behind dry runs, and the insert-unless-held claim.
 *
 * @module
 */
import { createRequire } from 'node:module'
import type * as MySql from 'mysql2/promise'
import type * as Pg from 'pg'
import { mysql, postgres, type Dialect, type Hit } from './dialects.js'
import type { MySqlPool, PgPool, Row, Run, SqlPool } from './driver.js'

export type {
  MySqlCallbackPool,
  MySqlConnection,
  MySqlPool,
  PgClient,
  PgPool,
  PgResult,
  Result,
  Row,
  Run,
  SqlPool,
} from './driver.js'

/** A text column's value: MySQL returns its VARBINARY and BLOB columns as buffers. */
export const str = (value: unknown): string =>
  Buffer.isBuffer(value) ? value.toString() : String(value)

/** Whether `error` is the server's answer to a deadlock (PostgreSQL 40P01, MySQL 1213). */
export function deadlocked(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === '40P01' || code === 'ER_LOCK_DEADLOCK'
}

/**
 * Runs `attempt`, and again while it fails with a deadlock, `tries` times in all. Only for
 * attempts that are one transaction: the server rolled the failed one back, nothing of it stays.
 */
export async function retryDeadlocks<T>(attempt: () => Promise<T>, tries = 3): Promise<T> {
  for (let n = 1; n < tries; n++) {
    try {
      return await attempt()
    } catch (error) {
      if (!deadlocked(error)) throw error
    }
  }
  return attempt()
}

/**
 * Returned by a transaction's body whose last statement ended with its own `COMMIT` (PostgreSQL
 * only: a query without parameters may hold several statements), so that the commit costs no
 * round trip of its own; the transaction resolves `value`.
 */
export class Committed<T> {
  constructor(readonly value: T) {}
}

/** Thrown inside a transaction to roll it back and resolve `value` instead. */
export class Rollback extends Error {
  constructor(readonly value: unknown) {
    super('rollback')
  }
}

/**
 * One database: its dialect, and statements run on the pool. Any failure destroys the
 * connection it happened on instead of handing it back to the pool.
 */
export interface Database {
  readonly dialect: Dialect
  /** What every lock name of `transaction` is prefixed with: the tables' schema and prefix. */
  readonly namespace: string
  readonly run: Run
  /**
   * Runs one statement as its own transaction at `READ COMMITTED` (on MySQL, where the default
   * is `REPEATABLE READ`, one more round trip): for statements that scan many rows and must not
   * hold next-key locks on all of them (sweeps, touches).
   */
  readonly readCommitted: Run
  /**
   * Runs `body` in a transaction on one connection, holding the named locks, and commits; a
   * {@link Rollback} thrown by `body` rolls it back and resolves the rollback's value. `soft`:
   * the commit does not wait for the server to flush it (see {@link Dialect.begin}).
   */
  transaction<T>(
    locks: readonly string[],
    body: (run: Run) => Promise<T | Committed<T>>,
    soft?: boolean,
  ): Promise<T>
  /**
   * Deletes the rows matching `where`, at most `batch` per statement (so that no statement
   * holds many row locks for long), until a batch comes back short; returns how many in all.
   */
  sweep(
    table: string,
    key: string,
    where: string,
    params: unknown[],
    batch: number,
  ): Promise<number>
  /** Counts one fixed-window hit, in one atomic statement. */
  hit(table: string, name: string, now: number, windowMs: number): Promise<Hit>
  /** Ends the pool. */
  end(): Promise<void>
}

const require = createRequire(import.meta.url)

/** Creates a pool from a `postgres://`, `postgresql://`, `mysql://` or `mariadb://` URL. */
export function createPool(url: string, timeoutMs: number): PgPool | MySqlPool {
  const scheme = /^([a-z]+):\/\//i.exec(url)?.[1]?.toLowerCase()
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const pg = require('pg') as typeof Pg
    const pool = new pg.Pool({
      connectionString: url,
      connectionTimeoutMillis: timeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
    })
    // An idle client that loses its server is dropped by the pool; the next query reports it.
    pool.on('error', () => {})
    return pool as unknown as PgPool
  }
  if (scheme === 'mysql' || scheme === 'mariadb') {
    const driver = require('mysql2/promise') as typeof MySql
    const uri = url.replace(/^mariadb:/i, 'mysql:')
    return driver.createPool({ uri, connectTimeout: timeoutMs, enableKeepAlive: true })
  }
  throw new TypeError(
    'ws-warden: url must start with postgres://, postgresql://, mysql:// or mariadb://',
  )
}

/** Wraps a pool in the driver of its dialect, told apart by shape. */
export function openDatabase(pool: SqlPool, namespace: string, timeoutMs: number): Database {
  let dialect: Dialect
  if ('promise' in pool && typeof pool.promise === 'function') {
    dialect = mysql(pool.promise(), timeoutMs)
  } else if ('getConnection' in pool) dialect = mysql(pool, timeoutMs)
  else if ('connect' in pool) dialect = postgres(pool, timeoutMs)
  else throw new TypeError('ws-warden: pool must be a pg.Pool or a mysql2 pool')
  const session = async <T>(body: (run: Run) => Promise<T>): Promise<T> => {
    const connection = await dialect.connect()
    try {
      const value = await body(connection.run)
      connection.release(false)
      return value
    } catch (error) {
      connection.release(true)
      throw error
    }
  }
  const run: Run = (sql, params, prepared) => session((run) => run(sql, params, prepared))
  const readCommitted: Run = (sql, params = []) =>
    session((run) => dialect.readCommitted(run, sql, params))
  return {
    dialect,
    namespace,
    run,
    readCommitted,
    transaction: <T>(
      locks: readonly string[],
      body: (run: Run) => Promise<T | Committed<T>>,
      soft = false,
    ) =>
      session(async (run) => {
        // Lock names are namespaced: PostgreSQL's are per database, MySQL's per server.
        const names = locks.map((lock) => `${namespace}:${lock}`)
        await dialect.begin(run, names, soft)
        let value: T | Committed<T>
        try {
          value = await body(run)
        } catch (error) {
          if (!(error instanceof Rollback)) throw error
          await dialect.end(run, names, 'ROLLBACK')
          return error.value as T
        }
        if (value instanceof Committed) return value.value
        await dialect.end(run, names, 'COMMIT')
        return value
      }),
    async sweep(table, key, where, params, batch) {
      const [sql, values] = dialect.deleteBatch(table, key, where, params, batch)
      let total = 0
      for (;;) {
        // A batch is one statement: a deadlock's victim rolled back whole, so it runs again.
        const { count } = await retryDeadlocks(() => readCommitted(sql, values))
        total += count
        if (count < batch) return total
      }
    },
    hit: (table, name, now, windowMs) => dialect.hit(run, table, name, now, windowMs),
    end: () => dialect.pool.end(),
  }
}

/**
 * How many rows of `table` match `where`: what `db.sweep` with the same arguments would delete
 * (the stores' `countSweepable`, for dry runs).
 */
export async function countWhere(
  db: Database,
  table: string,
  where: string,
  params: unknown[],
): Promise<number> {
  const { rows } = await db.run(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params)
  return Number((rows[0] as Row).n)
}

/**
 * Inserts a row keyed by `values[0]` unless a live one holds the key: true if it did. One
 * `INSERT ... ON CONFLICT DO NOTHING` / `INSERT IGNORE` decides; only when the key is taken does
 * a second statement delete the holder if it expired (`expires_at <= now`), and a third retry
 * the insert, which a concurrent caller may win. Shared by token ids and locks.
 */
export function claim(
  db: Database,
  table: string,
  columns: readonly string[],
  values: readonly unknown[],
  now: number,
): Promise<boolean> {
  // MySQL may pick one of many concurrent claims of a key as a deadlock's victim. Each statement
  // commits by itself and only an insert that adds a row wins, so trying again is safe.
  return retryDeadlocks(() => claimOnce(db, table, columns, values, now))
}

async function claimOnce(
  db: Database,
  table: string,
  columns: readonly string[],
  values: readonly unknown[],
  now: number,
): Promise<boolean> {
  const insert = db.dialect.insertIgnore(
    table,
    columns.join(', '),
    `VALUES (${values.map(() => '?').join(', ')})`,
  )
  if ((await db.run(insert, values)).count > 0) return true
  const expired = `DELETE FROM ${table} WHERE ${columns[0]} = ? AND expires_at <= ?`
  if ((await db.run(expired, [values[0], now])).count === 0) return false
  return (await db.run(insert, values)).count > 0
}
