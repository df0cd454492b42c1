/**
 * The in-process rate-limit store: fixed windows per key in a bounded LRU map.
 *
 * @module
 */
import type { RateLimitResult, RateLimitStore } from '../store-contracts.js'
import type { Clock } from '../types.js'
import { ExpiringCache, expiresAtOf } from './expiring-cache.js'
import { clockOption, countOption, positiveInteger } from '../validate.js'

const owner = 'MemoryRateLimitStore'

/** Options of {@link MemoryRateLimitStore}. */
export interface MemoryRateLimitStoreOptions {
  /**
   * How many keys (windows) the store holds. When every window is still open, a new key evicts
   * the least recently hit one, whose count starts over: size it above the keys you expect per
   * window (one per client IP for connect attempts).
   * @default 100000
   */
  readonly max?: number | undefined
  /** Where time comes from. @default Date */
  readonly clock?: Clock | undefined
}

interface Window {
  count: number
  readonly expiresAt: number
}

/**
 * The in-process {@link RateLimitStore}: a fixed window per key, opened by the key's first hit
 * and dropped when it ends, in a bounded LRU map. Counts hold within this process only.
 * `sweep(before)` never removes an open window, even with a future `before`.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #clock: Clock
  readonly #windows: ExpiringCache<Window>

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    const max = countOption(owner, 'max', options.max, 100_000)
    this.#clock = clockOption(owner, options.clock)
    this.#windows = new ExpiringCache<Window>(max, this.#clock, expiresAtOf)
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    return this.hitSync(key, limit, windowMs)
  }

  /** {@link hit}, answered synchronously (for in-process composition, as the memory admission). */
  hitSync(key: string, limit: number, windowMs: number): RateLimitResult {
    positiveInteger('hit(limit)', limit)
    positiveInteger('hit(windowMs)', windowMs)
    const now = this.#clock.now()
    let window = this.#windows.live(key, now)
    if (window === undefined) {
      // Prefer dropping ended windows to evicting an open one.
      this.#windows.makeRoom(now)
      window = { count: 0, expiresAt: now + windowMs }
      this.#windows.set(key, window, now)
    }
    window.count += 1
    return window.count <= limit
      ? { allowed: true, remaining: limit - window.count, retryAfterMs: 0 }
      : { allowed: false, remaining: 0, retryAfterMs: window.expiresAt - now }
  }

  async sweep(before: number): Promise<number> {
    return this.#windows.sweep(before, this.#clock.now())
  }

  async countSweepable(before: number): Promise<number> {
    return this.#windows.countSweepable(before, this.#clock.now())
  }

  /** Forgets every window. */
  async close(): Promise<void> {
    this.#windows.clear()
  }
}
