import type { TokenStore } from '@ws-warden/core/stores'
import { defineScript, storeOptions, type RedisStoreOptions } from './client.js'
import { CONSUME_TOKEN, COUNT_EXPIRED, SWEEP_EXPIRED } from './scripts.js'

/**
 * How long an expiry index keeps an entry after its record expired, for `sweep` to count it (the
 * design's cleanup runs every 5 minutes). Older entries are trimmed on write.
 */
export const INDEX_RETENTION_MS = 300_000

/**
 * Single-use token ids in Redis: `SET <key> 1 NX PXAT <expiresAt>` in one script, so exactly one
 * consume wins across every instance, and the key expires with its token.
 *
 * Keys: `{<prefix>:tokens}:jti:<jti>` and the expiry index `{<prefix>:tokens}:expiry`.
 */
export class RedisTokenStore implements TokenStore {
  readonly #consume
  readonly #sweep
  readonly #countExpired
  readonly #tag: string

  constructor(options: RedisStoreOptions) {
    const { client, prefix } = storeOptions('RedisTokenStore', options)
    this.#tag = `{${prefix}:tokens}`
    this.#consume = defineScript(client, 'wsWardenConsumeToken', 2, CONSUME_TOKEN)
    this.#sweep = defineScript(client, 'wsWardenSweepExpired', 1, SWEEP_EXPIRED)
    this.#countExpired = defineScript(client, 'wsWardenCountExpired', 1, COUNT_EXPIRED)
  }

  async consume(jti: string, expiresAt: number): Promise<boolean> {
    if (typeof jti !== 'string' || jti === '') {
      throw new TypeError('ws-warden: consume(jti) needs a non-empty string')
    }
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
      throw new TypeError('ws-warden: consume(expiresAt) needs a finite epoch time in ms')
    }
    const keys = [`${this.#tag}:jti:${jti}`, `${this.#tag}:expiry`]
    return (await this.#consume(...keys, Math.ceil(expiresAt), jti, INDEX_RETENTION_MS)) === 1
  }

  async sweep(before: number): Promise<number> {
    return Number(await this.#sweep(`${this.#tag}:expiry`, before))
  }

  async countSweepable(before: number): Promise<number> {
    return Number(await this.#countExpired(`${this.#tag}:expiry`, before))
  }
}
