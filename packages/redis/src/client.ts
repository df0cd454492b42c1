/**
 * What every Redis store shares: the client and option types, the key prefix default, the
 * reading of the common options (with core's validators), Lua script definition (one script or a
 * named set), and time-bounded calls and readiness.
 *
 * @module
 */
import { countOption, isNonEmptyString } from '@ws-warden/core/stores'
import type { Cluster, Redis } from 'ioredis'
import { CLUSTER_BUCKETS } from './buckets.js'

/** An ioredis client: a `Redis` (standalone or Sentinel) or a `Cluster`. */
export type RedisClient = Redis | Cluster

/** Options every Redis store takes. */
export interface RedisStoreOptions {
  /** The ioredis client to use. The store never closes it: it belongs to the caller. */
  readonly client: RedisClient
  /**
   * Prepended to every key and pub/sub channel, so several deployments can share one Redis.
   * Non-empty, without `{` or `}` (the stores add hash tags of their own).
   * @default 'ws_warden'
   */
  readonly prefix?: string | undefined
  /**
   * How many hash tags (so Cluster slots) each store spreads its keys over: see `buckets.ts`.
   * Every instance sharing the store must use the same number. One keeps all of a store's keys
   * under one tag, as on a standalone Redis.
   * @default 1 on a `Redis` client, 16 on a `Cluster` client
   */
  readonly buckets?: number | undefined
}

/** The default of the option `prefix`. */
export const DEFAULT_PREFIX = 'ws_warden'

/** A reply of one of our scripts. */
export type Reply = string | number | null | Reply[]

/** A defined script: runs it with its keys, then its arguments. */
export type Script = (...args: (string | number)[]) => Promise<Reply>

/** Validates the common options; returns the client, prefix and number of buckets. */
export function storeOptions(
  owner: string,
  options: RedisStoreOptions | undefined,
): { client: RedisClient; prefix: string; buckets: number } {
  const client = options?.client
  if (typeof client?.defineCommand !== 'function' || typeof client.duplicate !== 'function') {
    throw new TypeError(`ws-warden: ${owner} option client must be an ioredis Redis or Cluster`)
  }
  const prefix = options?.prefix ?? DEFAULT_PREFIX
  if (!isNonEmptyString(prefix) || /[{}]/.test(prefix)) {
    throw new TypeError(`ws-warden: ${owner} option prefix must be a non-empty string without {}`)
  }
  const fallback = client.isCluster ? CLUSTER_BUCKETS : 1
  const buckets = countOption(owner, 'buckets', options?.buckets, fallback)
  return { client, prefix, buckets }
}

/**
 * Defines a Lua script on the client (EVALSHA, falling back to EVAL once per connection) and
 * returns a function that runs it. Redefining a name with the same script is harmless. With
 * `keys` undefined, each call passes its number of keys first.
 */
export function defineScript(
  client: RedisClient,
  name: string,
  keys: number | undefined,
  lua: string,
): Script {
  client.defineCommand(name, keys === undefined ? { lua } : { numberOfKeys: keys, lua })
  const script = (client as unknown as Record<string, Script>)[name] as Script
  return script.bind(client)
}

/** Defines each script of `scripts` under `<name prefix><its name>` (see {@link defineScript}). */
export function defineScripts<T extends Record<string, string>>(
  client: RedisClient,
  namePrefix: string,
  keys: number,
  scripts: T,
): Record<keyof T, Script> {
  const defined = Object.entries(scripts).map(([name, lua]) => {
    return [name, defineScript(client, `${namePrefix}${name}`, keys, lua)]
  })
  return Object.fromEntries(defined) as Record<keyof T, Script>
}

/** Rejects with `what` if `promise` has not settled within `ms`. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`ws-warden: ${what} within ${ms} ms`)), ms)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Resolves once the client is ready (connecting a lazy one); rejects after `ms`. */
export async function whenReady(client: RedisClient, ms: number): Promise<void> {
  if (client.status === 'ready') return
  if (client.status === 'end') throw new Error('ws-warden: the Redis connection is closed')
  if (client.status === 'wait') client.connect().catch(() => {})
  let onReady: (() => void) | undefined
  const ready = new Promise<void>((resolve) => client.once('ready', (onReady = resolve)))
  await bounded(ready, ms, 'Redis was not ready').finally(() => {
    client.off('ready', onReady as () => void)
  })
}
