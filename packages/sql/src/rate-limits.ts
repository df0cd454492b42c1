/**
 * The SQL rate-limit store: fixed-window counters, one atomic upsert per hit, with optional
 * fail-open, and the sweep of ended windows.
 *
 * @module
 */
import {
  countOption,
  positiveInteger,
  onErrorOption,
  type RateLimitResult,
  type RateLimitStore,
} from '@ws-warden/core/stores'
import { countWhere } from './database.js'
import { closer, key, resolve, time, type Resolved, type SqlStoreOptions } from './options.js'

/** Options of {@link SqlRateLimitStore}. */
export interface SqlRateLimitStoreOptions extends SqlStoreOptions {
  /**
   * Answer `allowed` when the database fails or does not answer within `failOpenAfterMs` (fail
   * open), instead of rejecting so that admission answers 503 (fail closed). The error goes to
   * `onError`.
   * @default false
   */
  readonly failOpen?: boolean | undefined
  /**
   * With `failOpen`, how long a hit waits before it is allowed anyway. Keep it below the
   * warden's `storeTimeoutMs`.
   * @default 1000
   */
  readonly failOpenAfterMs?: number | undefined
  /** Receives the errors that `failOpen` turned into an allowed hit. @default ignored */
  readonly onError?: ((error: unknown) => void) | undefined
}

/**
 * The {@link RateLimitStore} on PostgreSQL or MySQL/MariaDB: one row per key in
 * `<prefix>rate_limits` with its count and the end of its window. A hit is one atomic upsert
 * that opens a new window when the old one has ended and counts otherwise (PostgreSQL returns
 * the row; MySQL returns the count through `LAST_INSERT_ID(expr)` and reads the window's end in
 * a second statement only for a refused hit). `sweep(before)` never removes an open window.
 * A failing database fails the hit (closed) unless `failOpen` is set.
 */
export class SqlRateLimitStore implements RateLimitStore {
  readonly #s: Resolved
  readonly #close: () => Promise<void>
  readonly #failOpenAfterMs: number | undefined
  readonly #onError: (error: unknown) => void

  constructor(options: SqlRateLimitStoreOptions) {
    const owner = 'SqlRateLimitStore'
    const { failOpen, failOpenAfterMs, onError } = options ?? {}
    this.#onError = onErrorOption(owner, onError) ?? (() => {})
    const afterMs = countOption(owner, 'failOpenAfterMs', failOpenAfterMs, 1000)
    this.#failOpenAfterMs = failOpen === true ? afterMs : undefined
    this.#s = resolve(owner, options)
    this.#close = closer(this.#s)
  }

  /** Ends the pool if the store created it from `url`; a pool it was given stays open. */
  close(): Promise<void> {
    return this.#close()
  }

  async hit(name: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    key('hit(key)', name)
    positiveInteger('hit(limit)', limit)
    positiveInteger('hit(windowMs)', windowMs)
    const counted = this.#hit(name, limit, windowMs)
    const wait = this.#failOpenAfterMs
    if (wait === undefined) return counted
    const timeout = `ws-warden: rate limit hit did not answer within ${wait} ms`
    const result = await bounded(counted, wait, timeout).catch(
      (e: unknown) => void this.#onError(e),
    )
    return result ?? { allowed: true, remaining: 0, retryAfterMs: 0 }
  }

  async #hit(name: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    const { db, tables, clock } = this.#s
    const now = clock.now()
    const { hits, expiresAt } = await db.hit(tables.rateLimits, name, now, windowMs)
    if (hits <= limit) return { allowed: true, remaining: limit - hits, retryAfterMs: 0 }
    let ends = expiresAt
    if (ends === undefined) {
      const sql = `SELECT expires_at FROM ${tables.rateLimits} WHERE name = ?`
      const { rows } = await db.run(sql, [name])
      ends = rows.length > 0 ? Number(rows[0]?.expires_at) : now
    }
    // The window cannot end later than `windowMs` from now, nor have ended: a refused hit
    // always waits a little.
    return {
      allowed: false,
      remaining: 0,
      retryAfterMs: Math.min(windowMs, Math.max(1, ends - now)),
    }
  }

  async sweep(before: number): Promise<number> {
    const { db, tables, batchSize, clock } = this.#s
    const bound = Math.min(time('rateLimits.sweep(before)', before), clock.now() + 1)
    return db.sweep(tables.rateLimits, 'name', 'expires_at < ?', [bound], batchSize)
  }

  async countSweepable(before: number): Promise<number> {
    const { db, tables, clock } = this.#s
    const bound = Math.min(time('rateLimits.countSweepable(before)', before), clock.now() + 1)
    return countWhere(db, tables.rateLimits, 'expires_at < ?', [bound])
  }
}

/** `promise`, or a rejection with `message` after `ms`. */
function bounded<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms).unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
