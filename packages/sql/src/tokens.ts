/**
 * The SQL token store: single-use token ids, each kept until its token expires, and the sweep of
 * expired ones.
 *
 * @module
 */
import type { TokenStore } from '@ws-warden/core/stores'
import { claim, countWhere } from './database.js'
import { closer, key, resolve, time, type Resolved, type SqlStoreOptions } from './options.js'

/**
 * The {@link TokenStore} on PostgreSQL or MySQL/MariaDB: used token ids in `<prefix>tokens`,
 * each kept until its token expires. `consume` is one `INSERT ... ON CONFLICT DO NOTHING`
 * (MySQL: `INSERT IGNORE`), so of any number of concurrent calls on any instance exactly one
 * inserts; a row left by an expired token with the same id is replaced. A token whose
 * `expiresAt` has passed can never verify, so `consume` answers `true` for it and stores nothing.
 * `sweep(before)` never removes an unexpired id, even with a future `before`.
 */
export class SqlTokenStore implements TokenStore {
  readonly #s: Resolved
  readonly #close: () => Promise<void>

  constructor(options: SqlStoreOptions) {
    this.#s = resolve('SqlTokenStore', options)
    this.#close = closer(this.#s)
  }

  /** Ends the pool if the store created it from `url`; a pool it was given stays open. */
  close(): Promise<void> {
    return this.#close()
  }

  async consume(jti: string, expiresAt: number): Promise<boolean> {
    const id = key('consume(jti)', jti)
    const expires = time('consume(expiresAt)', expiresAt)
    const now = this.#s.clock.now()
    if (expires <= now) return true
    return claim(this.#s.db, this.#s.tables.tokens, ['jti', 'expires_at'], [id, expires], now)
  }

  async sweep(before: number): Promise<number> {
    const { db, tables, batchSize, clock } = this.#s
    const bound = Math.min(time('tokens.sweep(before)', before), clock.now() + 1)
    return db.sweep(tables.tokens, 'jti', 'expires_at < ?', [bound], batchSize)
  }

  async countSweepable(before: number): Promise<number> {
    const { db, tables, clock } = this.#s
    const bound = Math.min(time('tokens.countSweepable(before)', before), clock.now() + 1)
    return countWhere(db, tables.tokens, 'expires_at < ?', [bound])
  }
}
