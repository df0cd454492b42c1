import mysql from 'mysql2/promise'
import { MYSQL_URL, PG_URL } from './services.js'

/** A connection for test set-up and clean-up: runs SQL as an administrator. */
export interface Admin {
  query(sql: string): Promise<unknown>
  end(): Promise<void>
}

/** The part of `pg` the tests use (the CLI does not depend on `@types/pg`). */
interface PgDriver {
  default: {
    Pool: new (config: { connectionString: string; connectionTimeoutMillis: number }) => Admin & {
      on(event: 'error', listener: () => void): unknown
    }
  }
}

/** An administrator's pool on the PostgreSQL or MySQL test database. */
export async function admin(kind: 'postgres' | 'mysql'): Promise<Admin> {
  if (kind === 'mysql') return mysql.createPool({ uri: MYSQL_URL, connectTimeout: 2000 })
  const driver = 'pg' // a variable: pg has no types of its own
  const { default: pg } = (await import(driver)) as PgDriver
  const pool = new pg.Pool({ connectionString: PG_URL, connectionTimeoutMillis: 2000 })
  pool.on('error', () => {})
  return pool
}

/** The tables of `@ws-warden/sql` for a prefix, children first. */
export const TABLES = [
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
