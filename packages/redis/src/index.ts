/**
 * Redis stores and a pub/sub broker for ws-warden, so that many instances act as one.
 *
 * ```ts
 * import { createWarden } from '@ws-warden/core'
 * import { createRedisStores } from '@ws-warden/redis'
 *
 * const stores = await createRedisStores({ url: 'redis://127.0.0.1:6379' })
 * const warden = createWarden({ tokens: { secret }, stores })
 * // on shutdown: await warden.close(); await stores.close()
 *
 * // Redis Cluster: seed nodes; keys spread over 16 buckets, sharded pub/sub
 * const clustered = await createRedisStores({ cluster: { nodes: '10.0.0.1:7000,10.0.0.2:7000' } })
 * ```
 *
 * @packageDocumentation
 */
export type { RedisAdmissionStore } from './admission.js'
export type { RedisShardedAdmissionStore } from './sharded-admission.js'
export { RedisBroker, type RedisBrokerOptions } from './broker.js'
export { CLUSTER_BUCKETS } from './buckets.js'
export type { RedisClient, RedisStoreOptions } from './client.js'
export {
  CLUSTER_DEFAULTS,
  parseClusterNodes,
  type ClusterNodeAddress,
  type ClusterNodes,
} from './cluster.js'
export { RedisHistoryStore } from './history.js'
export { RedisLockStore } from './locks.js'
export { RedisRateLimitStore, type RedisRateLimitStoreOptions } from './rate-limits.js'
export { RedisResumeStore } from './resumes.js'
export { RedisSessionStore, type RedisSessionStoreOptions } from './sessions.js'
export { createRedisStores, type CreateRedisStoresOptions, type RedisStores } from './stores.js'
export { RedisTokenStore } from './tokens.js'
