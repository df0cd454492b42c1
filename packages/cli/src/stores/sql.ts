/**
 * The `postgres://` and `mysql://` stores: loads the driver, opens a bounded pool and the SQL
 * stores over it, once the database answers.
 *
 * @module
 */
import type * as MySql from 'mysql2/promise'
import type * as Sql from '@ws-warden/sql'
import type { PgPool, SqlPool } from '@ws-warden/sql'
import { UsageError, messageOf } from '../errors.js'
import type { StoreUrl } from '../store-url.js'
import { bounded, importOptional, unreachable } from './load.js'
import type { ConnectOptions, OpenedStore } from './types.js'

type SqlPackage = typeof Sql
type MySqlDriver = typeof MySql

/** The part of `pg` the CLI uses (the CLI does not depend on `@types/pg`). */
interface PgDriver {
  readonly default: {
    readonly Pool: new (config: {
      connectionString: string
      connectionTimeoutMillis: number
      query_timeout: number
      max: number
    }) => PgPool & {
      query(text: string): Promise<unknown>
      on(event: 'error', listener: (error: Error) => void): unknown
    }
  }
}

/** A connected SQL pool: the CLI made it, and ends it. */
export interface SqlConnection {
  readonly pool: SqlPool
  end(): Promise<void>
}

/**
 * Opens a pool for a `postgres://` or `mysql://` URL and proves it with `SELECT 1` within
 * `timeoutMs` (connect, authenticate, pick the database); a failure is "unreachable".
 */
export async function connectSql(url: StoreUrl, options: ConnectOptions): Promise<SqlConnection> {
  const { timeoutMs } = options
  let pool: SqlPool & { query(text: string): Promise<unknown>; end(): Promise<void> }
  if (url.kind === 'postgres') {
    const { default: pg } = await importOptional<PgDriver>('pg')
    const pgPool = new pg.Pool({
      connectionString: url.url,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      max: 4,
    })
    // An idle connection that loses its server is dropped by the pool; the next query reports it.
    /* c8 ignore next: only when a server drops an idle connection (timing-dependent in tests) */
    pgPool.on('error', () => {})
    pool = pgPool
  } else {
    const mysql = await importOptional<MySqlDriver>('mysql2/promise')
    const uri = url.url.replace(/^mariadb:/i, 'mysql:')
    pool = mysql.createPool({ uri, connectTimeout: timeoutMs, connectionLimit: 4 })
  }
  const end = () => pool.end().catch(() => {})
  try {
    await bounded(pool.query('SELECT 1'), timeoutMs)
  } catch (error) {
    void end()
    throw unreachable(url, timeoutMs, error)
  }
  return { pool, end }
}

/** `postgres://` / `mysql://`: the SQL stores over a pool of the CLI's own. */
export async function openSql(url: StoreUrl, options: ConnectOptions): Promise<OpenedStore> {
  const { createSqlStores } = await importOptional<SqlPackage>('@ws-warden/sql')
  const connection = await connectSql(url, options)
  try {
    const stores = createSqlStores({
      pool: connection.pool,
      prefix: options.prefix,
      schema: options.schema,
      timeoutMs: options.timeoutMs,
    })
    const { sessions, tokens, rateLimits } = stores
    const close = async () => {
      await stores.close()
      await connection.end()
    }
    return { url, sessions, tokens, rateLimits, close }
  } catch (error) {
    await connection.end()
    throw new UsageError(`bad store option: ${messageOf(error)}`, options.command)
  }
}
