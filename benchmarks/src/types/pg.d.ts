/**
 * The little of `pg` the benchmarks use. `@types/pg` is not a dependency of this package (it is
 * of @ws-warden/sql); this shim keeps the benchmarks strict without adding one.
 */
declare module 'pg' {
  interface QueryResult<R> {
    rows: R[]
    rowCount: number | null
  }
  interface QueryConfig {
    text: string
    values?: unknown[]
    query_timeout?: number
  }
  interface PoolClient {
    query(config: QueryConfig): Promise<QueryResult<Record<string, unknown>>>
    release(destroy?: boolean | Error): void
    on(event: 'error', listener: (error: Error) => void): this
    removeListener(event: 'error', listener: (error: Error) => void): this
  }
  class Pool {
    constructor(config: { connectionString: string; max?: number })
    connect(): Promise<PoolClient>
    query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<QueryResult<R>>
    end(): Promise<void>
    on(event: 'error', listener: (error: Error) => void): this
  }
  class Client {
    constructor(config: { connectionString: string; connectionTimeoutMillis?: number })
    connect(): Promise<void>
    query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<QueryResult<R>>
    end(): Promise<void>
    on(event: 'error', listener: (error: Error) => void): this
  }
  const pg: { Pool: typeof Pool; Client: typeof Client }
  export { Client, Pool }
  export default pg
}
