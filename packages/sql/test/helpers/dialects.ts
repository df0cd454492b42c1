import type { Test } from 'tap'
import { migrate, type SqlPool } from '../../src/index.js'
import { dropMysqlTables, mysqlPool, pgPool, randomName, reachable } from './servers.js'

/** One database under test: pools on it, and fresh tables. */
export interface Target {
  readonly name: 'postgres' | 'mysql'
  readonly schema: string | undefined
  /** A new pool (closed by the target's teardown). */
  pool(): SqlPool
  /** Migrates a fresh prefix (and schema) and returns the options to reach its tables. */
  fresh(): Promise<{ pool: SqlPool; schema?: string; prefix: string }>
  /** Runs SQL as an administrator. */
  admin(sql: string, params?: unknown[]): Promise<unknown>
}

/**
 * Calls `body` once per reachable database, in subtests named after it; tables made with
 * `fresh()` and every pool made with `pool()` are dropped and ended afterwards.
 */
export function eachDatabase(t: Test, body: (t: Test, target: Target) => Promise<void>): void {
  for (const name of ['postgres', 'mysql'] as const) {
    void t.test(name, async (t) => {
      const pools: { end(): Promise<void> }[] = []
      const prefixes: string[] = []
      const schema = name === 'postgres' ? randomName('wsw_test_') : undefined
      const make = () => {
        const pool = name === 'postgres' ? pgPool() : mysqlPool()
        pools.push(pool)
        return pool
      }
      const admin = make()
      const run = (sql: string, params: unknown[] = []) =>
        'getConnection' in admin ? admin.query(sql, params) : admin.query(sql, params)
      t.teardown(async () => {
        if (schema !== undefined)
          await run(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {})
        if (name === 'mysql') {
          for (const prefix of prefixes)
            await dropMysqlTables(admin as never, prefix).catch(() => {})
        }
        await Promise.all(pools.map((pool) => pool.end()))
      })
      if (!(await reachable(t, name, () => run('SELECT 1')))) return
      const target: Target = {
        name,
        schema,
        pool: make,
        fresh: async () => {
          const prefix = `${randomName('t')}_`
          prefixes.push(prefix)
          const options =
            schema === undefined ? { pool: admin, prefix } : { pool: admin, schema, prefix }
          await migrate(options)
          return options
        },
        admin: run,
      }
      await body(t, target)
    })
  }
}
