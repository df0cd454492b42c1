/**
 * The SQL lock store: named expiring locks as rows, released only by their holder.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { positiveInteger, type LockStore, type ReleaseLock } from '@ws-warden/core/stores'
import { claim } from './database.js'
import { closer, key, resolve, type Resolved, type SqlStoreOptions } from './options.js'

/**
 * The {@link LockStore} on PostgreSQL or MySQL/MariaDB: one row per held lock in
 * `<prefix>locks`, with a random token and an expiry. `acquire` inserts the row unless a live
 * holder has it (an expired row is taken over); release deletes the row only if it still
 * carries this holder's token, so a holder whose lock expired never frees its successor's.
 * (Session-level advisory locks cannot expire, and transaction-level ones cannot outlive the
 * call, hence a table.)
 */
export class SqlLockStore implements LockStore {
  readonly #s: Resolved
  readonly #close: () => Promise<void>

  constructor(options: SqlStoreOptions) {
    this.#s = resolve('SqlLockStore', options)
    this.#close = closer(this.#s)
  }

  /** Ends the pool if the store created it from `url`; a pool it was given stays open. */
  close(): Promise<void> {
    return this.#close()
  }

  async acquire(name: string, ttlMs: number): Promise<ReleaseLock | null> {
    key('acquire(name)', name)
    positiveInteger('acquire(ttlMs)', ttlMs)
    const { db, tables, clock } = this.#s
    const token = randomUUID()
    const now = clock.now()
    const columns = ['name', 'token', 'expires_at']
    if (!(await claim(db, tables.locks, columns, [name, token, now + ttlMs], now))) return null
    return async () => {
      await db.run(`DELETE FROM ${tables.locks} WHERE name = ? AND token = ?`, [name, token])
    }
  }
}
