import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import pg from 'pg'

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const POSTGRES_URL =
  process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
export const NATS_URL = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222'

export type StoreKind = 'memory' | 'redis' | 'postgres' | 'mysql'
export const STORE_KINDS: readonly StoreKind[] = ['memory', 'redis', 'postgres', 'mysql']

/** A unique, SQL-safe name for one run's keys, tables or schema. */
export function uniqueName(tag: string): string {
  return `wswb_${tag}_${process.pid.toString(36)}${Math.random().toString(36).slice(2, 7)}`
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms).unref()),
  ])
}

/** The version of each service that answers, keyed by store kind; absent ones are missing. */
export async function serviceVersions(): Promise<Partial<Record<StoreKind, string>>> {
  const found: Partial<Record<StoreKind, string>> = {}
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  })
  redis.on('error', () => undefined)
  try {
    await within(redis.connect(), 2_000)
    const info = await redis.info('server')
    found.redis = `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}`
  } catch {
    // not available
  } finally {
    redis.disconnect()
  }
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2_000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version')
    found.postgres = `PostgreSQL ${rows[0]?.server_version ?? '?'}`
  } catch {
    // not available
  } finally {
    await client.end().catch(() => undefined)
  }
  try {
    const connection = await within(
      mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 2_000 }),
      3_000,
    )
    try {
      const [rows] = await connection.query('SELECT VERSION() AS v')
      found.mysql = `MySQL/MariaDB ${String((rows as { v: string }[])[0]?.v ?? '?')}`
    } finally {
      await connection.end()
    }
  } catch {
    // not available
  }
  return found
}

/** Deletes every Redis key under `prefix` (and the Socket.IO adapter's channels need nothing). */
export async function cleanupRedis(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  redis.on('error', () => undefined)
  try {
    for (const pattern of [`${prefix}*`, `{${prefix}*`]) {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        cursor = next
        if (keys.length > 0) await redis.unlink(...keys)
      } while (cursor !== '0')
    }
  } finally {
    redis.disconnect()
  }
}

/** Drops a PostgreSQL schema made for one run. */
export async function cleanupPostgres(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL })
  client.on('error', () => undefined)
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

/** Drops the MySQL tables whose names start with `prefix`. */
export async function cleanupMysql(prefix: string): Promise<void> {
  const connection = await mysql.createConnection({ uri: MYSQL_URL })
  try {
    const [rows] = await connection.query(
      'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?',
      [`${prefix}%`],
    )
    const tables = (rows as { t: string }[]).map((row) => `\`${row.t}\``)
    if (tables.length > 0) {
      await connection.query('SET FOREIGN_KEY_CHECKS = 0')
      await connection.query(`DROP TABLE IF EXISTS ${tables.join(', ')}`)
    }
    // The SQL migrations install a procedure too (`<prefix>admit`).
    const [routines] = await connection.query(
      'SELECT routine_name AS r FROM information_schema.routines WHERE routine_schema = DATABASE() AND routine_name LIKE ?',
      [`${prefix}%`],
    )
    for (const { r } of routines as { r: string }[]) {
      await connection.query(`DROP PROCEDURE IF EXISTS \`${r}\``)
    }
  } finally {
    await connection.end()
  }
}

/** Removes whatever a run left in `store` under `name` (prefix or schema). */
export async function cleanup(store: StoreKind, name: string): Promise<void> {
  if (store === 'redis') await cleanupRedis(name)
  else if (store === 'postgres') await cleanupPostgres(name)
  else if (store === 'mysql') await cleanupMysql(name)
}
