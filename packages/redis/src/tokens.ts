/**
 * The Redis token store: single-use token ids, each kept until its token expires, and the sweep
 * of expired ones.
 */
import type { TokenStore } from '@ws-warden/core/stores'
import { Buckets, sumOverBuckets, type Colocated } from './buckets.js'
import { defineScript, storeOptions, type RedisStoreOptions } from './client.js'
import { CONSUME_TOKEN, COUNT_EXPIRED, SWEEP_EXPIRED } from './scripts.js'

/**
 * How long an expiry index keeps an entry after its record expired, for `sweep` to count it (the
 * design's cleanup runs every 5 minutes). Older entries are trimmed on write.
 */
export const INDEX_RETENTION_MS = 300_000

/** The key of a used token id under its bucket's tag. */
export function tokenKey(tag: string, jti: string): string {
  return `${tag}:jti:${jti}`
}

/** Throws unless `jti` is a non-empty string and `expiresAt` a finite number (what consume takes). */
export function checkToken(jti: unknown, expiresAt: unknown): void {
  if (typeof jti !== 'string' || jti === '') {
    throw new TypeError('ws-warden: consume(jti) needs a non-empty string')
  }
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
 */
export class RedisTokenStore implements TokenStore {
  readonly #consume
  readonly #sweep
  readonly #countExpired
  readonly #buckets: Buckets

  constructor(options: RedisStoreOptions) {
    const { client, prefix, buckets } = storeOptions('RedisTokenStore', options)
    this.#buckets = new Buckets(prefix, 'tokens', buckets, (options as Colocated).under)
    this.#consume = defineScript(client, 'wsWardenConsumeToken', 2, CONSUME_TOKEN)
    this.#sweep = defineScript(client, 'wsWardenSweepExpired', 1, SWEEP_EXPIRED)
    this.#countExpired = defineScript(client, 'wsWardenCountExpired', 1, COUNT_EXPIRED)
  }

  async consume(jti: string, expiresAt: number): Promise<boolean> {
    checkToken(jti, expiresAt)
    const tag = this.#buckets.tagOf(jti)
    const keys = [tokenKey(tag, jti), `${tag}:expiry`]
    return (await this.#consume(...keys, Math.ceil(expiresAt), jti, INDEX_RETENTION_MS)) === 1
  }

  sweep(before: number): Promise<number> {
    return sumOverBuckets(this.#buckets, (tag) => this.#sweep(`${tag}:expiry`, before))
  }

  countSweepable(before: number): Promise<number> {
    return sumOverBuckets(this.#buckets, (tag) => this.#countExpired(`${tag}:expiry`, before))
  }
}
