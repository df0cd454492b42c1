/**
 * The driver-facing types both the database layer and the dialects use: the parts of `pg` and
 * `mysql2` pools the stores call, a row, a statement's result, the statement runner.
 *
 * @module
 */

/** A row as both drivers return it: column name to value. */
export type Row = Record<string, unknown>

/** What `pg` answers to one statement. */
export interface PgResult {
  rows: Row[]
  rowCount: number | null
}

/** The part of a `pg.PoolClient` the stores use. */
export interface PgClient {
  /** A query without parameters may hold several statements: then one result for each. */
  query(config: {
    text: string
    values?: unknown[]
    /** A named statement: parsed once per connection, then only bound and run. */
    name?: string
    query_timeout?: number
  }): Promise<PgResult | PgResult[]>
  release(destroy?: boolean | Error): void
  on(event: 'error', listener: (error: Error) => void): unknown
  removeListener(event: 'error', listener: (error: Error) => void): unknown
}

/** The part of a `pg.Pool` the stores use: any `pg.Pool` fits. */
export interface PgPool {
  connect(): Promise<PgClient>
  end(): Promise<void>
}

/** The part of a `mysql2/promise` pool connection the stores use. */
export interface MySqlConnection {
  query(options: { sql: string; values?: unknown[]; timeout?: number }): Promise<[unknown, unknown]>
  release(): void
  destroy(): void
}

/** The part of a `mysql2/promise` pool the stores use: any `mysql2` pool fits. */
export interface MySqlPool {
  getConnection(): Promise<MySqlConnection>
  end(): Promise<void>
}

/** A callback-style `mysql2` pool; the stores use its `.promise()` wrapper. */
export interface MySqlCallbackPool {
  promise(): MySqlPool
}

/** A pool the user passes in: `pg.Pool`, or a `mysql2` pool of either flavour. */
export type SqlPool = PgPool | MySqlPool | MySqlCallbackPool

/** What one statement returned: rows, the affected (or returned) row count, MySQL's insert id. */
export interface Result {
  readonly rows: Row[]
  readonly count: number
  readonly insertId: number
}

/**
 * Runs one statement with `?` placeholders. `prepared`: a name for it, unique to this text; the
 * statement is then prepared once per connection (a server-side prepared statement) and only
 * run after that.
 */
export type Run = (sql: string, params?: readonly unknown[], prepared?: string) => Promise<Result>
