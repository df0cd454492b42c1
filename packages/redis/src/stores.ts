/**
 * `createRedisStores`: the whole Redis store set and broker from a client, a URL or a Cluster, over
 * one client that it closes only if it opened it.
 *
 * @module
 */
import { countOption, onErrorOption } from '@ws-warden/core/stores'
import { Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { RedisAdmissionStore } from './admission.js'
import { RedisBroker } from './broker.js'
import { CLUSTER_BUCKETS } from './buckets.js'
import { DEFAULT_PREFIX, whenReady, type RedisClient } from './client.js'
import { createCluster, type ClusterNodes } from './cluster.js'
import { RedisHistoryStore } from './history.js'
import { RedisLockStore } from './locks.js'
import { RedisRateLimitStore } from './rate-limits.js'
import { RedisResumeStore } from './resumes.js'
import { RedisSessionStore, SESSION_TTL_MS } from './sessions.js'
import { RedisShardedAdmissionStore, shardedPlacement } from './sharded-admission.js'
import { RedisTokenStore } from './tokens.js'

/** Options of {@link createRedisStores}: one of `client`, `url` and `cluster`. */
export interface CreateRedisStoresOptions {
  /** An ioredis `Redis` or `Cluster` client. The stores use it and never close it. */
  readonly client?: RedisClient | undefined
  /** A Redis URL (`redis://user:pass@host:6379/0`, `rediss://` for TLS): the stores own a client. */
  readonly url?: string | undefined
  /**
   * A Redis Cluster: seed nodes (`'host:port,host:port'`, or a list of `'host:port'` or
   * `{ host, port }`; see `parseClusterNodes`), and ioredis Cluster options over the defaults
   * `CLUSTER_DEFAULTS` (fail fast, follow redirections, retry `TRYAGAIN` and `CLUSTERDOWN`, read
   * from masters). The stores own the Cluster client; their keys spread over 16 buckets (see
   * `buckets`) and the broker uses sharded pub/sub.
   */
  readonly cluster?:
    | {
        readonly nodes: ClusterNodes
        readonly options?: ClusterOptions | undefined
      }
    | undefined
  /**
   * How many hash tags (so Cluster slots) each store spreads its keys over. Every instance
   * sharing the stores must use the same number.
   * @default 1 on a `Redis` client, 16 on a Cluster
   */
  readonly buckets?: number | undefined
  /**
   * ioredis options for the client made from `url`, over the defaults
   * `{ enableOfflineQueue: false, maxRetriesPerRequest: 0 }` (fail fast while Redis is down).
   * @default {}
   */
  readonly redisOptions?: Omit<RedisOptions, 'replyMapping'> | undefined
  /** Prepended to every key and channel. @default 'ws_warden' */
  readonly prefix?: string | undefined
  /** Lifetime of session keys, refreshed by writes. @default 86400000 */
  readonly sessionTtlMs?: number | undefined
  /** Allow connect attempts when Redis fails (see {@link RedisRateLimitStore}). @default false */
  readonly rateLimitFailOpen?: boolean | undefined
  /** How long to wait for Redis when starting, and for a broker subscription. @default 5000 */
  readonly connectTimeoutMs?: number | undefined
  /** Receives connection errors and the errors fail-open swallowed. @default ignored */
  readonly onError?: ((error: unknown) => void) | undefined
}

/** The stores of {@link createRedisStores}, ready for `createWarden({ stores })`. */
export interface RedisStores {
  readonly sessions: RedisSessionStore
  readonly tokens: RedisTokenStore
  readonly rateLimits: RedisRateLimitStore
  readonly locks: RedisLockStore
  readonly broker: RedisBroker
  /** Per-stream history of fan-out frames (used when the warden has `resumption` on). */
  readonly history: RedisHistoryStore
  /** Resumable sessions (used when the warden has `resumption` on). */
  readonly resumes: RedisResumeStore
  /**
   * Admission over `sessions`, `tokens` and `rateLimits`: with one bucket on a client that is not
   * a Cluster, one Lua script (`RedisAdmissionStore`); with several buckets (a Cluster's default),
   * two scripts sent at once, to the user's bucket (the user's attempts, the token, the insert
   * under the user cap) and to the caps slot (the IP's attempts, the IP and total reserve)
   * (`RedisShardedAdmissionStore`). Absent with one bucket on a Cluster (the keys of one
   * admission are in three slots) and with `rateLimitFailOpen` (attempts counted in the same
   * script as the token cannot fail open on their own): then the warden composes the calls.
   */
  readonly admission?: RedisAdmissionStore | RedisShardedAdmissionStore
  /** Closes the broker's subscriber and the client made from `url` (never a given client). */
  close(): Promise<void>
}

/**
 * Creates every Redis store over one client, and resolves once Redis answers (rejects after
 * `connectTimeoutMs`, closing what it created).
 */
export async function createRedisStores(options: CreateRedisStoresOptions): Promise<RedisStores> {
  const owner = 'createRedisStores'
  const given = [options?.client, options?.url, options?.cluster].filter((o) => o !== undefined)
  if (given.length !== 1) {
    throw new TypeError(`ws-warden: ${owner} needs one of the options client, url and cluster`)
  }
  onErrorOption(owner, options.onError)
  const timeoutMs = countOption(owner, 'connectTimeoutMs', options.connectTimeoutMs, 5000)
  const onError = options.onError ?? (() => {})
  let created: RedisClient | undefined
  if (options.cluster !== undefined) {
    if (typeof options.cluster !== 'object' || options.cluster === null) {
      throw new TypeError(`ws-warden: ${owner} option cluster must be { nodes, options? }`)
    }
    const { nodes, options: clusterOptions } = options.cluster
    created = createCluster(nodes, clusterOptions, `${owner} option cluster.nodes`)
    created.on('error', onError)
  } else if (options.url !== undefined) {
    if (typeof options.url !== 'string')
      throw new TypeError(`ws-warden: ${owner} option url must be a string`)
    const defaults = { enableOfflineQueue: false, maxRetriesPerRequest: 0 }
    created = new Redis(options.url, { ...defaults, ...options.redisOptions, lazyConnect: true })
    created.on('error', onError)
  }
  const client = (created ?? options.client) as RedisClient
  const common = { client, prefix: options.prefix, buckets: options.buckets }
  // A bad option throws here, before the (lazy) client made from `url` ever connects.
  const sessions = new RedisSessionStore({ ...common, ttlMs: options.sessionTtlMs })
  const prefix = options.prefix ?? DEFAULT_PREFIX
  const buckets = options.buckets ?? (client.isCluster ? CLUSTER_BUCKETS : 1)
  // Sessions sharded by user: the tokens of a user and the user's attempt window live in that
  // user's session bucket, the IPs' windows in the caps slot, so that an admission touches two
  // slots (this depends on `buckets` only: part of the layout).
  const placement = buckets === 1 ? undefined : shardedPlacement(prefix, buckets)
  const tokenOptions = { ...common, placement: placement?.tokens }
  const rateOptions = {
    ...common,
    placement: placement?.rate,
    failOpen: options.rateLimitFailOpen,
    onError,
  }
  const admitted = {
    sessions,
    tokens: new RedisTokenStore(tokenOptions),
    rateLimits: new RedisRateLimitStore(rateOptions),
  }
  const resolved = { ...admitted, client, prefix, ttlMs: options.sessionTtlMs ?? SESSION_TTL_MS }
  const admission =
    options.rateLimitFailOpen === true
      ? undefined
      : buckets > 1
        ? new RedisShardedAdmissionStore({ ...resolved, buckets })
        : client.isCluster
          ? undefined
          : new RedisAdmissionStore(resolved)
  const stores = {
    ...admitted,
    ...(admission && { admission }),
    locks: new RedisLockStore(common),
    broker: new RedisBroker({ ...common, onError, timeoutMs }),
    history: new RedisHistoryStore(common),
    resumes: new RedisResumeStore(common),
  }
  const close = async (): Promise<void> => {
    await stores.broker.close()
    created?.disconnect()
  }
  try {
    await whenReady(client, timeoutMs)
  } catch (error) {
    await close()
    throw error
  }
  return { ...stores, close }
}
