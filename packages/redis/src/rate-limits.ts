/**
 * The Redis rate-limit store: fixed-window counters (and their key), one atomic script per hit,
 * with optional fail-open, and the sweep of ended windows.
 *
 * @module
 */
import type { RateLimitResult, RateLimitStore } from '@ws-warden/core/stores'
import { countOption, onErrorOption, positiveInteger } from '@ws-warden/core/stores'
import { Buckets, sumOver, type Placed, type Placement } from './buckets.js'
import { bounded, defineScript, storeOptions } from './client.js'
import type { RedisStoreOptions } from './client.js'
import { COUNT_EXPIRED, HIT_WINDOW, SWEEP_EXPIRED } from './scripts/expiring-keys.js'
import { INDEX_RETENTION_MS } from './tokens.js'

/** Options of {@link RedisRateLimitStore}. */
export interface RedisRateLimitStoreOptions extends RedisStoreOptions {
  /**
   * Answer `allowed` when Redis fails or does not answer within `failOpenAfterMs` (fail open),
   * instead of rejecting so that admission answers 503 (fail closed). The error goes to `onError`.
   * @default false
   */
  readonly failOpen?: boolean | undefined
  /**
   * With `failOpen`, how long a hit waits for Redis before it is allowed anyway. Keep it below the
   * warden's `storeTimeoutMs`.
   * @default 1000
   */
  readonly failOpenAfterMs?: number | undefined
  /** Receives the errors that `failOpen` turned into an allowed hit. @default ignored */
  readonly onError?: ((error: unknown) => void) | undefined
}

/** The window counter of a rate-limit key under its bucket's tag. */
export function windowKey(tag: string, key: string): string {
  return `${tag}:win:${key}`
}

/**
 * Fixed-window counters in Redis: one Lua script per hit (`INCR`, and `PEXPIRE` on the window's
 * first hit), so counts are atomic across instances and cost one round trip.
 *
 * Keys: `<tag>:win:<key>` and the expiry index `<tag>:expiry`, where the tag is the key's bucket
 * `{<prefix>:rate:<bucket>}` (`{<prefix>:rate}` with one bucket). A sweep walks every bucket.
 *
 * From `createRedisStores` with several buckets, the connect-attempt windows the core counts are
 * kept beside the sessions instead, where the cluster admission hits them: `connect:user:<id>`
 * in that user's session bucket, `{<prefix>:sessions:<bucket>}:rate:win:connect:user:<id>`, and
 * `connect:ip:<ip>` in the caps slot, `{<prefix>:sessions:caps}:rate:win:connect:ip:<ip>`. Other
 * keys stay in their own bucket. The sweep walks those bases too.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly #hit
  readonly #sweep
  readonly #countExpired
  readonly #buckets: Buckets
  readonly #placement: Placement | undefined
  /** Every expiry index's base: the own buckets, then the placed bases. */
  readonly #bases: readonly string[]
  readonly #failOpen: boolean
  readonly #failOpenAfterMs: number
  readonly #onError: (error: unknown) => void

  constructor(options: RedisRateLimitStoreOptions) {
    const owner = 'RedisRateLimitStore'
    const { client, prefix, buckets } = storeOptions(owner, options)
    onErrorOption(owner, options.onError)
    this.#buckets = new Buckets(prefix, 'rate', buckets)
    this.#placement = (options as Placed).placement
    this.#bases = [...this.#buckets.all, ...(this.#placement?.bases ?? [])]
    this.#failOpen = options.failOpen === true
    this.#failOpenAfterMs = countOption(owner, 'failOpenAfterMs', options.failOpenAfterMs, 1000)
    this.#onError = options.onError ?? (() => {})
    this.#hit = defineScript(client, 'wsWardenHitWindow', 2, HIT_WINDOW)
    this.#sweep = defineScript(client, 'wsWardenSweepExpired', 1, SWEEP_EXPIRED)
    this.#countExpired = defineScript(client, 'wsWardenCountExpired', 1, COUNT_EXPIRED)
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    positiveInteger('hit(limit)', limit)
    positiveInteger('hit(windowMs)', windowMs)
    const tag = this.#placement?.place(key) ?? this.#buckets.tagOf(key)
    const keys = [windowKey(tag, key), `${tag}:expiry`]
    const hit = this.#hit(...keys, windowMs, key, INDEX_RETENTION_MS)
    const reply = this.#failOpen
      ? await bounded(hit, this.#failOpenAfterMs, 'rate limit hit did not answer').catch(
          (error: unknown) => void this.#onError(error),
        )
      : await hit
    if (reply === undefined) return { allowed: true, remaining: 0, retryAfterMs: 0 }
    const [count, ttl] = reply as [number, number]
    return count <= limit
      ? { allowed: true, remaining: limit - count, retryAfterMs: 0 }
      : { allowed: false, remaining: 0, retryAfterMs: Math.max(1, ttl) }
  }

  sweep(before: number): Promise<number> {
    return sumOver(this.#bases, (base) => this.#sweep(`${base}:expiry`, before))
  }

  countSweepable(before: number): Promise<number> {
    return sumOver(this.#bases, (base) => this.#countExpired(`${base}:expiry`, before))
  }
}
