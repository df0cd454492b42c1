/**
 * The Redis lock store: named expiring locks, released only by their holder.
 *
 * @module
 */
import type { LockStore, ReleaseLock } from '@ws-warden/core/stores'
import { positiveInteger } from '@ws-warden/core/stores'
import { randomUUID } from 'node:crypto'
import { defineScript, storeOptions, type RedisClient, type RedisStoreOptions } from './client.js'
import { RELEASE_LOCK } from './scripts/locks.js'

/**
 * Expiring locks in Redis: `SET <key> <random token> NX PX <ttl>`; the release deletes the key
 * only if it still holds that token (compare-and-delete in Lua).
 *
 * Keys: `<prefix>:lock:<name>`.
 */
export class RedisLockStore implements LockStore {
  readonly #client: RedisClient
  readonly #prefix: string
  readonly #release

  constructor(options: RedisStoreOptions) {
    const { client, prefix } = storeOptions('RedisLockStore', options)
    this.#client = client
    this.#prefix = prefix
    this.#release = defineScript(client, 'wsWardenReleaseLock', 1, RELEASE_LOCK)
  }

  async acquire(name: string, ttlMs: number): Promise<ReleaseLock | null> {
    positiveInteger('acquire(ttlMs)', ttlMs)
    const key = `${this.#prefix}:lock:${name}`
    const token = randomUUID()
    if ((await this.#client.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return null
    return async () => void (await this.#release(key, token))
  }
}
