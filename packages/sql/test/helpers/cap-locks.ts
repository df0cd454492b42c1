import { createHash } from 'node:crypto'
import type { PgPool, SqlPool } from '../../src/index.js'
import type { Target } from './dialects.js'

/** The tables a store's cap locks are named after. */
type Named = { readonly prefix: string; readonly schema?: string }

/**
 * The server lock the stores take for `lock` (`user:<id>`, `ip:<ip>`) on `tables`, as the
 * dialects derive it: a PostgreSQL advisory lock id, or a MySQL `GET_LOCK` name.
 */
export function lockKey(db: Pick<Target, 'name'>, tables: Named, lock: string): string {
  const hash = createHash('sha256')
    .update(`${tables.schema ?? ''}.${tables.prefix}:${lock}`)
    .digest()
  return db.name === 'postgres'
    ? String(hash.readBigInt64BE(0))
    : `wsw:${hash.toString('hex', 0, 24)}`
}

/** Holds the server lock `key` on a connection of its own; resolves a function that frees it. */
export async function holdLock(pool: SqlPool, key: string): Promise<() => Promise<void>> {
  if ('getConnection' in pool) {
    const connection = await pool.getConnection()
    await connection.query({ sql: 'SELECT GET_LOCK(?, 5)', values: [key] })
    return async () => {
      await connection.query({ sql: 'SELECT RELEASE_LOCK(?)', values: [key] })
      connection.release()
    }
  }
  const client = await (pool as PgPool).connect()
  await client.query({ text: 'SELECT pg_advisory_lock($1::bigint)', values: [key] })
  return async () => {
    await client.query({ text: 'SELECT pg_advisory_unlock($1::bigint)', values: [key] })
    client.release()
  }
}

/** Whether no session holds the server lock `key`. */
export async function lockFree(db: Target, key: string): Promise<boolean> {
  const [sql, params] =
    db.name === 'postgres'
      ? ['SELECT pg_try_advisory_xact_lock($1::bigint) AS free', [key]]
      : ['SELECT IS_FREE_LOCK(?) AS free', [key]]
  const result = (await db.admin(sql, params)) as
    { rows?: { free: unknown }[] } | [{ free: unknown }[]]
  const rows = Array.isArray(result) ? result[0] : (result.rows ?? [])
  return rows[0]?.free === true || Number(rows[0]?.free) === 1
}
