/**
 * Redis Cluster connection settings: the seed nodes (and their `host:port,host:port` text form,
 * as `REDIS_CLUSTER_NODES` holds it) and the ioredis `Cluster` defaults the stores want.
 *
 * @module
 */
import { isNonEmptyString, isPositiveInteger } from '@ws-warden/core/stores'
import { Cluster, type ClusterOptions } from 'ioredis'

/** One seed node of a cluster. */
export interface ClusterNodeAddress {
  readonly host: string
  readonly port: number
}

/** Seed nodes: `'host:port,host:port'`, or a list of `'host:port'` or `{ host, port }`. */
export type ClusterNodes = string | readonly (string | ClusterNodeAddress)[]

/**
 * What `createRedisStores` sets on a Cluster it makes, under the caller's options:
 * - fail fast while the cluster is unreachable (no offline queue, no per-node retries: the core's
 *   store timeout is the bound), like the client made from a `url`;
 * - follow redirections (MOVED, and ASK while a slot migrates) up to 32 times, waiting 50 ms on
 *   `TRYAGAIN` (a script whose keys are half migrated) and 100 ms on `CLUSTERDOWN` or a node lost
 *   to a failover: a migration or failover costs retries, not refusals, within about 1.6 s;
 * - read from masters only (`scaleReads: 'master'`): a replica lags, and a single-use token or a
 *   cap must never be read stale.
 * The broker's subscriber adds `shardedSubscribers: true` to its own copy (see `broker.ts`).
 */
export const CLUSTER_DEFAULTS = {
  enableOfflineQueue: false,
  maxRedirections: 32,
  retryDelayOnTryAgain: 50,
  retryDelayOnClusterDown: 100,
  retryDelayOnFailover: 100,
  scaleReads: 'master',
  redisOptions: { maxRetriesPerRequest: 0 },
} as const satisfies ClusterOptions

/**
 * Parses seed nodes (`'10.0.0.1:7000,10.0.0.2:7000'`, `[::1]:7000` for IPv6) into addresses.
 * `what` names the input in the error a bad entry throws (a TypeError saying which entry).
 */
export function parseClusterNodes(
  nodes: ClusterNodes,
  what = 'cluster nodes',
): ClusterNodeAddress[] {
  const entries = typeof nodes === 'string' ? nodes.split(',') : nodes
  if (!Array.isArray(entries) && typeof nodes !== 'string') {
    throw new TypeError(`ws-warden: ${what} must be host:port pairs, got ${String(nodes)}`)
  }
  const parsed = entries.map((entry) => parseNode(entry, what))
  if (parsed.length === 0) throw new TypeError(`ws-warden: ${what} needs at least one host:port`)
  return parsed
}

function parseNode(entry: unknown, what: string): ClusterNodeAddress {
  const bad = (): TypeError =>
    new TypeError(`ws-warden: ${what} must be host:port pairs, got ${JSON.stringify(entry)}`)
  let host: unknown
  let port: unknown
  if (typeof entry === 'string') {
    const match = /^\s*(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})\s*$/.exec(entry)
    if (match === null) throw bad()
    host = match[1] ?? match[2]
    port = Number(match[3])
  } else if (typeof entry === 'object' && entry !== null) {
    ;({ host, port } = entry as Record<string, unknown>)
  }
  if (!isNonEmptyString(host)) throw bad()
  if (!isPositiveInteger(port) || port > 65_535) throw bad()
  return { host, port }
}

/** A lazy Cluster client over `nodes`, with {@link CLUSTER_DEFAULTS} under `options`. */
export function createCluster(
  nodes: ClusterNodes,
  options: ClusterOptions = {},
  what?: string,
): Cluster {
  const seeds = parseClusterNodes(nodes, what)
  const redisOptions = { ...CLUSTER_DEFAULTS.redisOptions, ...options.redisOptions }
  const merged = { ...CLUSTER_DEFAULTS, ...options, redisOptions, lazyConnect: true }
  return new Cluster(
    seeds.map((seed) => ({ ...seed })),
    merged as ConstructorParameters<typeof Cluster>[1],
  )
}
