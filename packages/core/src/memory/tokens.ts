/**
 * The in-process token store: consumed token ids, kept until they expire, never evicted early.
 *
 * @module
 */
import { StoreUnavailableError } from '../errors.js'
import type { TokenStore } from '../store-contracts.js'
import type { Clock } from '../types.js'
import { ExpiringCache } from './expiring-cache.js'
import { clockOption, countOption } from '../validate.js'

const owner = 'MemoryTokenStore'

/** Options of {@link MemoryTokenStore}. */
export interface MemoryTokenStoreOptions {
  /**
   * How many unexpired token ids the store holds. It never evicts one to make room (that would
   * let the token be replayed): when full, `consume` rejects with {@link TokenStoreFullError}.
   * Size it above peak connects per second times the token TTL.
   * @default 100000
   */
  readonly max?: number | undefined
  /** Where time comes from. @default Date */
  readonly clock?: Clock | undefined
}

/**
 * The memory token store is full of unexpired token ids; the connect is refused (HTTP 503)
 * rather than risk a replay. Raise `max` or shorten the token TTL.
 */
export class TokenStoreFullError extends StoreUnavailableError {
  /** The bound that was reached. */
  readonly max: number

  constructor(max: number) {
    super('tokens', `memory token store is full (${max} unexpired token ids)`)
    this.max = max
  }
}

/**
 * The in-process {@link TokenStore}: used token ids in a bounded LRU map, each kept until its
 * token expires. Single-use holds within this process only; share a Redis or SQL store across
 * instances.
 *
 * A token whose `expiresAt` has already passed can never verify, so `consume` answers `true`
 * for it and stores nothing. `sweep(before)` never removes an unexpired id, even with a future
 * `before`: that would re-allow its token.
 */
export class MemoryTokenStore implements TokenStore {
  readonly #max: number
  readonly #clock: Clock
  /** Each used token id's expiry (epoch ms): the value is the expiry itself, no object. */
  readonly #used: ExpiringCache<number>

  constructor(options: MemoryTokenStoreOptions = {}) {
    this.#max = countOption(owner, 'max', options.max, 100_000)
    this.#clock = clockOption(owner, options.clock)
    this.#used = new ExpiringCache<number>(this.#max, this.#clock, (expiresAt) => expiresAt)
  }

  async consume(jti: string, expiresAt: number): Promise<boolean> {
    return this.consumeSync(jti, expiresAt)
  }

  /**
   * {@link consume}, answered synchronously (for in-process composition, as the memory
   * admission).
   * @throws TokenStoreFullError when every slot holds an unexpired id.
   */
  consumeSync(jti: string, expiresAt: number): boolean {
    if (typeof jti !== 'string' || jti === '') {
      throw new TypeError('ws-warden: consume(jti) needs a non-empty string')
    }
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
      throw new TypeError('ws-warden: consume(expiresAt) needs a finite epoch time in ms')
    }
    const now = this.#clock.now()
    if (expiresAt <= now) return true
    if (this.#used.live(jti, now) !== undefined) return false
    if (!this.#used.makeRoom(now)) throw new TokenStoreFullError(this.#max)
    this.#used.set(jti, expiresAt, now)
    return true
  }

  async sweep(before: number): Promise<number> {
    return this.#used.sweep(before, this.#clock.now())
  }

  async countSweepable(before: number): Promise<number> {
    return this.#used.countSweepable(before, this.#clock.now())
  }

  /** Forgets every token id. */
  async close(): Promise<void> {
    this.#used.clear()
  }
}
