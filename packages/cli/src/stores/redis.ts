/**
 * The `redis://` and `rediss://` stores: connects the Redis stores with a client of their own,
 * within the connect timeout.
 *
 * @module
 */
import type * as Redis from '@ws-warden/redis'
import { UsageError, messageOf } from '../errors.js'
import type { StoreUrl } from '../store-url.js'
import { importOptional, unreachable } from './load.js'
import type { ConnectOptions, OpenedStore } from './types.js'

type RedisPackage = typeof Redis

/**
 * `redis://` / `rediss://`: the Redis stores over a client of their own, once Redis answers. The
 * client retries within `timeoutMs`, then the last connection error is reported.
 */
export async function openRedis(url: StoreUrl, options: ConnectOptions): Promise<OpenedStore> {
  const { createRedisStores } = await importOptional<RedisPackage>('@ws-warden/redis')
  let lastError: unknown
  try {
    const stores = await createRedisStores({
      url: url.url,
      prefix: options.prefix,
      connectTimeoutMs: options.timeoutMs,
      onError: (error) => void (lastError = error),
    })
    const { sessions, tokens, rateLimits } = stores
    return { url, sessions, tokens, rateLimits, close: () => stores.close() }
  } catch (error) {
    if (error instanceof TypeError) {
      throw new UsageError(`bad store option: ${messageOf(error)}`, options.command)
    }
    throw unreachable(url, options.timeoutMs, lastError)
  }
}
