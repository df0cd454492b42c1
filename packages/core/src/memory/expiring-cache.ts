/**
 * The bounded LRU map of expiring values under the memory token and rate-limit stores.
 *
 * @module
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../types.js'

/** A value that stops counting at `expiresAt` (epoch ms, exclusive). */
export interface Expiring {
  readonly expiresAt: number
}

/** When a value stops counting (epoch ms, exclusive). */
export type ExpiryOf<V> = (value: V) => number

/** The expiry of a value that carries its own `expiresAt`. */
export const expiresAtOf: ExpiryOf<Expiring> = (value) => value.expiresAt

/**
 * A bounded LRU map of expiring values, shared by the token and rate-limit stores.
 *
 * Expiry is decided here, from each value's expiry (`expiry`: a value can be its expiry itself,
 * when there is nothing else to keep, which costs a connection one object less) and the injected
 * clock. lru-cache also gets each
 * entry's TTL (and the same clock), but only so that it drops stale entries when they are read:
 * it may consider an entry live a millisecond longer than we do, never shorter, and it treats
 * a start time of 0 as "no TTL", so its view is never the one that decides. `allowStale` keeps
 * stale entries visible to iteration, so sweeps can count them.
 */
export class ExpiringCache<V extends object | number> {
  readonly #cache: LRUCache<string, V>
  readonly #expiry: ExpiryOf<V>
  /** Never later than the earliest `expiresAt` held: before it, a purge cannot free anything. */
  #earliest = Infinity

  constructor(max: number, clock: Clock, expiry: ExpiryOf<V>) {
    this.#expiry = expiry
    // ttlResolution 0: read the clock on every check instead of caching it behind a timer.
    this.#cache = new LRUCache<string, V>({ max, allowStale: true, ttlResolution: 0, perf: clock })
  }

  /** The value under `key` if it has not expired at `now`. */
  live(key: string, now: number): V | undefined {
    const value = this.#cache.get(key)
    return value !== undefined && this.#expiry(value) > now ? value : undefined
  }

  /**
   * Stores a value that has not expired at `now`. When the cache is full and `key` is new,
   * lru-cache evicts the least recently used entry, live or not: call {@link makeRoom} first.
   */
  set(key: string, value: V, now: number): void {
    const expiresAt = this.#expiry(value)
    this.#cache.set(key, value, { ttl: Math.ceil(expiresAt - now) })
    this.#earliest = Math.min(this.#earliest, expiresAt)
  }

  /**
   * Frees room for one more key by removing expired entries, never a live one; false if every
   * entry is live. Walks from the least recently used end, where expired entries gather, and
   * stops at the first live entry once it has found an expired one, so that the cost stays
   * proportional to what it frees.
   */
  makeRoom(now: number): boolean {
    if (this.#cache.size < this.#cache.max) return true
    if (now < this.#earliest) return false
    const expired: string[] = []
    let earliest = Infinity
    for (const entry of this.#cache.rentries()) {
      // lru-cache types rentries() loosely; it yields the same [key, value] pairs as entries().
      const [key, value] = entry as [string, V]
      const expiresAt = this.#expiry(value)
      if (expiresAt <= now) expired.push(key)
      else if (expired.length > 0) break
      else earliest = Math.min(earliest, expiresAt)
    }
    // Nothing expired means the walk saw every entry, so `earliest` is exact.
    if (expired.length === 0) this.#earliest = earliest
    for (const key of expired) this.#cache.delete(key)
    return expired.length > 0
  }

  /**
   * Removes entries that expired before `before`; returns how many. An entry still live at `now`
   * stays, whatever `before` says: dropping it early would reset what it guards.
   */
  sweep(before: number, now: number): number {
    const expired: string[] = []
    let earliest = Infinity
    for (const [key, value] of this.#cache.entries()) {
      const expiresAt = this.#expiry(value)
      if (expiresAt < before && expiresAt <= now) expired.push(key)
      else earliest = Math.min(earliest, expiresAt)
    }
    for (const key of expired) this.#cache.delete(key)
    this.#earliest = earliest
    return expired.length
  }

  /** How many entries {@link sweep} would remove with the same arguments; removes nothing. */
  countSweepable(before: number, now: number): number {
    let count = 0
    for (const value of this.#cache.values()) {
      const expiresAt = this.#expiry(value)
      if (expiresAt < before && expiresAt <= now) count += 1
    }
    return count
  }

  clear(): void {
    this.#cache.clear()
    this.#earliest = Infinity
  }
}
