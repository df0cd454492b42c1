/**
 * The real services the store tests run against, a unique `WARDEN_PREFIX` per test, and the
 * clean-up of everything written under it. A service that does not answer skips its tests on a
 * developer's machine, and fails them with `CI=true`.
 */
import t from 'tap'
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { Redis } from 'ioredis'
import { createConnection } from 'mysql2/promise'

export const REDIS_URL = 'redis://127.0.0.1:6379'
export const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test'
export const MYSQL_URL = 'mysql://root@127.0.0.1:3306/test'

export type Service = 'redis' | 'postgres' | 'mysql'

const CI = process.env.CI === 'true'

/** The little of `pg` these tests use (the demo itself reaches PostgreSQL through its URL). */
interface PgClient {
  connect(): Promise<void>
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
  end(): Promise<void>
  on(event: 'error', listener: (error: Error) => void): void
}
const pg = createRequire(import.meta.url)('pg') as {
  Client: new (options: { connectionString: string; connectionTimeoutMillis: number }) => PgClient
}

/** Runs `body` with a connection to an SQL service, closed afterwards. */
async function withSql<T>(
  service: 'postgres' | 'mysql',
  body: (query: (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>) => T,
): Promise<Awaited<T>> {
  if (service === 'postgres') {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2_000 })
    client.on('error', () => {})
    try {
      await client.connect()
      return await body(async (sql, params) => (await client.query(sql, params)).rows)
    } finally {
      await client.end().catch(() => {})
    }
  }
  const connection = await createConnection({ uri: MYSQL_URL, connectTimeout: 2_000 })
  connection.on('error', () => {})
  try {
    return await body(async (sql, params) => {
      const [rows] = await connection.query(sql, params)
      return rows as Record<string, unknown>[]
    })
  } finally {
    await connection.end().catch(() => {})
  }
}

async function withRedis<T>(body: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2_000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  let failure: unknown
  client.on('error', (error) => (failure ??= error))
  try {
    // A refused connection rejects with "Connection is closed"; the error event says why.
    await client.connect().catch((error: unknown) => Promise.reject(failure ?? error))
    return await body(client)
  } finally {
    client.disconnect()
  }
}

/** Undefined if the service answers, else why not. */
async function probe(service: Service): Promise<string | undefined> {
  try {
    if (service === 'redis') await withRedis((client) => client.ping())
    else await withSql(service, (query) => query('SELECT 1'))
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error)
  }
}

/**
 * A test that needs a service: skipped when it does not answer, unless `CI=true`, where that
 * fails the test. A subtest of `parent` (the file's root by default).
 */
export async function serviceTest(
  services: Service | readonly Service[],
  name: string,
  fn: (t: Test) => Promise<void>,
  parent: Test = t,
): Promise<void> {
  const problems = await Promise.all(
    [services].flat().map(async (service) => {
      const problem = await probe(service)
      return problem === undefined ? [] : [`${service} does not answer: ${problem}`]
    }),
  )
  const problem = problems.flat().join('; ')
  if (problem === '') {
    await parent.test(name, fn)
  } else if (CI) {
    await parent.test(name, async (t) => void t.fail(`${problem} (CI=true: a failure, not a skip)`))
  } else {
    await parent.test(name, { skip: problem }, fn)
  }
}

/** A fresh `WARDEN_PREFIX`: valid as a Redis key prefix and as an SQL table prefix. */
export function uniquePrefix(): string {
  return `demo_t${randomBytes(5).toString('hex')}`
}

/** Deletes every Redis key under `prefix` (the stores' `{prefix:…}` and `prefix:…` keys). */
export function cleanRedis(prefix: string): Promise<number> {
  return withRedis(async (client) => {
    let removed = 0
    for (const pattern of [`{${prefix}:*`, `${prefix}:*`]) {
      for await (const keys of client.scanStream({ match: pattern, count: 500 })) {
        const batch = keys as string[]
        if (batch.length > 0) removed += await client.unlink(...batch)
      }
    }
    return removed
  })
}

/** The tables of `WARDEN_PREFIX` `prefix` (the demo's table prefix is `<prefix>_`). */
export function sqlTables(service: 'postgres' | 'mysql', prefix: string): Promise<string[]> {
  return withSql(service, async (query) => {
    const [schema, parameter] =
      service === 'postgres' ? ['current_schema()', '$1'] : ['DATABASE()', '?']
    const rows = await query(
      `SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = ${schema} AND table_name LIKE ${parameter}`,
      [`${prefix.replace(/_/g, '\\_')}\\_%`],
    )
    return rows.map((row) => String(row.name))
  })
}

/** Drops the tables of `WARDEN_PREFIX` `prefix`. */
export async function cleanSql(service: 'postgres' | 'mysql', prefix: string): Promise<number> {
  const tables = await sqlTables(service, prefix)
  if (tables.length === 0) return 0
  const quoted = tables.map((name) => (service === 'postgres' ? `"${name}"` : `\`${name}\``))
  await withSql(service, async (query) => {
    if (service === 'postgres') {
      await query(`DROP TABLE IF EXISTS ${quoted.join(', ')} CASCADE`)
      // The SQL migrations install the admission procedure next to the tables.
      await query(`DROP PROCEDURE IF EXISTS "${prefix}_admit"`)
    } else {
      await query('SET foreign_key_checks = 0')
      await query(`DROP TABLE IF EXISTS ${quoted.join(', ')}`)
      await query(`DROP PROCEDURE IF EXISTS \`${prefix}_admit\``)
    }
  })
  return tables.length
}
