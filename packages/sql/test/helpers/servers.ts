import { randomBytes } from 'node:crypto'
import mysql from 'mysql2/promise'
import pg from 'pg'
import type { Test } from 'tap'

/** The servers the tests use; override with WARDEN_PG_URL / WARDEN_MYSQL_URL. */
export const PG_URL = process.env.WARDEN_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const MYSQL_URL = process.env.WARDEN_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'

/** A fresh lower-case name, safe as a schema or table prefix. */
export function randomName(prefix: string): string {
  return `${prefix}${randomBytes(5).toString('hex')}`
}

/** A pg pool for tests, with the error listener every pg pool needs. */
export function pgPool(options: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 10, ...options })
  pool.on('error', () => {})
  return pool
}

export function mysqlPool(options: mysql.PoolOptions = {}): mysql.Pool {
  return mysql.createPool({ uri: MYSQL_URL, connectionLimit: 10, ...options })
}

/**
 * Whether the server answers. Unreachable under CI=true is a failure, never a skip; elsewhere
 * the file's tests are skipped with a note.
 */
export async function reachable(t: Test, name: string, probe: () => Promise<unknown>) {
  try {
    await probe()
    return true
  } catch (error) {
    if (process.env.CI === 'true') {
      t.fail(`${name} is not reachable (CI=true: a missing server is a failure)`, { error })
    } else {
      t.plan(0, `${name} is not reachable; set CI=true to make this a failure`)
    }
    return false
  }
}

/** Drops every table of `prefix` (MySQL), children first. */
export async function dropMysqlTables(pool: mysql.Pool, prefix: string): Promise<void> {
  const names = [
    'session_channels',
    'sessions',
    'tokens',
    'rate_limits',
    'locks',
    'counters',
    'streams',
    'history',
    'resumes',
    'migrations',
  ]
  await pool.query(`DROP TABLE IF EXISTS ${names.map((n) => `\`${prefix}${n}\``).join(', ')}`)
  await pool.query(`DROP PROCEDURE IF EXISTS \`${prefix}admit\``)
  await pool.query(`DROP PROCEDURE IF EXISTS \`${prefix}admit_many\``)
}
