import type { MySqlConnection, MySqlPool, PgClient, PgPool, SqlPool } from '../../src/index.js'

/** A statement a store ran, with its parameters. */
export interface Statement {
  readonly sql: string
  readonly values: unknown[]
}

/**
 * What a test makes of a statement: run it, refuse it, answer it with no rows, or refuse it as
 * the server refuses a deadlock's victim (PostgreSQL `40P01`, MySQL `ER_LOCK_DEADLOCK`).
 */
export type Intercept = (sql: string) => 'run' | 'fail' | 'empty' | 'deadlock'

const deadlock = (code: string) =>
  Promise.reject(Object.assign(new Error('deadlock detected (by the test)'), { code }))

/** Wraps a pool so that every statement run through it is appended to `log`, and intercepted. */
export function recording(
  pool: SqlPool,
  log: Statement[],
  intercept: Intercept = () => 'run',
): SqlPool {
  const refuse = (sql: string) => Promise.reject(new Error(`refused by the test: ${sql}`))
  if ('getConnection' in pool) {
    const mysql: MySqlPool = {
      getConnection: async () => {
        const connection = await pool.getConnection()
        const wrapped: MySqlConnection = {
          query: (options) => {
            log.push({ sql: options.sql, values: options.values ?? [] })
            const how = intercept(options.sql)
            if (how === 'empty') return Promise.resolve([[], []] as [unknown, unknown])
            if (how === 'deadlock') return deadlock('ER_LOCK_DEADLOCK')
            return how === 'fail' ? refuse(options.sql) : connection.query(options)
          },
          release: () => connection.release(),
          destroy: () => connection.destroy(),
        }
        return wrapped
      },
      end: () => pool.end(),
    }
    return mysql
  }
  const pg = pool as PgPool
  const wrapped: PgPool = {
    connect: async () => {
      const client = await pg.connect()
      const recorded: PgClient = {
        query: (config) => {
          log.push({ sql: config.text, values: config.values ?? [] })
          const how = intercept(config.text)
          if (how === 'empty') return Promise.resolve({ rows: [], rowCount: 0 })
          if (how === 'deadlock') return deadlock('40P01')
          return how === 'fail' ? refuse(config.text) : client.query(config)
        },
        release: (destroy) => client.release(destroy),
        on: (event, listener) => client.on(event, listener),
        removeListener: (event, listener) => client.removeListener(event, listener),
      }
      return recorded
    },
    end: () => pg.end(),
  }
  return wrapped
}
