/**
 * The Redis token store: single-use token ids, each kept until its token expires, and the sweep
 * of expired ones; also how long every store's expiry index keeps an expired entry.
 *
 * @module
 */
import type { TokenStore } from '@ws-warden/core/stores'
import { nonEmpty } from '@ws-warden/core/stores'
import { Buckets, sumOver, type Placed, type Placement } from './buckets.js'
import { defineScript, storeOptions, type RedisStoreOptions } from './client.js'
import { CONSUME_TOKEN, COUNT_EXPIRED, SWEEP_EXPIRED } from './scripts/expiring-keys.js'

/**
 * How long an expiry index keeps an entry after its record expired, for `sweep` to count it (the
 * design's cleanup runs every 5 minutes). Older entries are trimmed on write.
 */
export const INDEX_RETENTION_MS = 300_000

/** The key of a used token id under its bucket's tag. */
export function tokenKey(tag: string, jti: string): string {
  return `${tag}:jti:${jti}`
}

/**
 * Throws unless `jti` is a non-empty string, `expiresAt` a finite number and `owner`, if given, a
 * string (what consume takes).
 */
export function checkToken(jti: unknown, expiresAt: unknown, owner?: unknown): void {
  if (owner !== undefined && typeof owner !== 'string') {
    throw new TypeError('ws-warden: consume(owner) needs a string when given')
  }
  nonEmpty('consume(jti)', jti)
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
    throw new TypeError('ws-warden: consume(expiresAt) needs a finite epoch time in ms')
  }
}

/**
 * Single-use token ids in Redis: `SET <key> 1 NX PXAT <expiresAt>` in one script, so exactly one
 * consume wins across every instance, and the key expires with its token.
 *
 * Keys: `<tag>:jti:<jti>` and the expiry index `<tag>:expiry`, where the tag is the jti's bucket
 * `{<prefix>:tokens:<bucket>}` (`{<prefix>:tokens}` with one bucket). A sweep walks every bucket.
 *
 * From `createRedisStores` with several buckets, a consume that names its `owner` (the core's
 * always do) keeps the record in the owner's session bucket instead,
 * `{<prefix>:sessions:<bucket of owner>}:tokens:jti:<jti>`, where the cluster admission consumes
 * it beside the owner's sessions; the sweep walks those bases too. Since the place depends on
 * the owner, every consume of one jti must name the same owner (see `TokenStore.consume`): the
 * core passes the verified principal's user id at admission and at refresh alike. A consume
 * without an owner keeps using the jti's bucket; mixing the two for one jti is not supported.
 * Elsewhere the owner is ignored.
 */
export class RedisTokenStore implements TokenStore {
  readonly #consume
  readonly #sweep
  readonly #countExpired
  readonly #buckets: Buckets
  readonly #placement: Placement | undefined
  /** Every expiry index's base: the own buckets, then the placed bases. */
  readonly #bases: readonly string[]

  constructor(options: RedisStoreOptions) {
    const { client, prefix, buckets } = storeOptions('RedisTokenStore', options)
    this.#buckets = new Buckets(prefix, 'tokens', buckets)
    this.#placement = (options as Placed).placement
    this.#bases = [...this.#buckets.all, ...(this.#placement?.bases ?? [])]
    this.#consume = defineScript(client, 'wsWardenConsumeToken', 2, CONSUME_TOKEN)
    this.#sweep = defineScript(client, 'wsWardenSweepExpired', 1, SWEEP_EXPIRED)
    this.#countExpired = defineScript(client, 'wsWardenCountExpired', 1, COUNT_EXPIRED)
  }

  async consume(jti: string, expiresAt: number, owner?: string): Promise<boolean> {
    checkToken(jti, expiresAt, owner)
    const tag =
      (owner !== undefined ? this.#placement?.place(owner) : undefined) ?? this.#buckets.tagOf(jti)
    const keys = [tokenKey(tag, jti), `${tag}:expiry`]
    return (await this.#consume(...keys, Math.ceil(expiresAt), jti, INDEX_RETENTION_MS)) === 1
  }

  sweep(before: number): Promise<number> {
    return sumOver(this.#bases, (base) => this.#sweep(`${base}:expiry`, before))
  }

  countSweepable(before: number): Promise<number> {
    return sumOver(this.#bases, (base) => this.#countExpired(`${base}:expiry`, before))
  }
}
