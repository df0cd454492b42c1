/**
 * The demo's configuration, read from the environment (see CONTRACT.md). Every bad value
 * stops start-up with a {@link ConfigError} naming the variable.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { parseClusterNodes, type ClusterNodeAddress } from '@ws-warden/redis'

export const ADAPTERS = ['fastify', 'express', 'koa'] as const
export const STORES = ['memory', 'redis', 'postgres', 'mysql'] as const
export const BROKERS = ['store', 'nats'] as const
export type Adapter = (typeof ADAPTERS)[number]
export type Store = (typeof STORES)[number]
/** `store`: the store set's own broker; `nats`: a NATS broker on `NATS_URL`, with any store. */
export type BrokerKind = (typeof BROKERS)[number]

export interface DemoConfig {
  readonly host: string
  readonly port: number
  readonly adapter: Adapter
  readonly store: Store
  readonly redisUrl: string
  /** True when `REDIS_URL` was set: with `mysql`, the processes then fan out through Redis. */
  readonly redisUrlSet: boolean
  /** `REDIS_CLUSTER_NODES`: the seeds of a Redis Cluster, used instead of `REDIS_URL`. */
  readonly redisClusterNodes: readonly ClusterNodeAddress[] | undefined
  /** The SQL stores' URL; its default follows `store`. */
  readonly databaseUrl: string
  readonly broker: BrokerKind
  readonly natsUrl: string
  readonly prefix: string
  readonly tokenSecret: string
  /** True when no secret was configured and a random one was generated. */
  readonly tokenSecretGenerated: boolean
  /** Allowed `Origin`s; undefined means the page's own origin (same host). */
  readonly allowedOrigins: readonly string[] | undefined
  readonly connectLimit: number
  readonly messageRate: number
  readonly maxMessageBytes: number
  readonly maxConnectionsPerUser: number
  /** Open connections per client IP (the warden's `connectionsPerIp`). */
  readonly maxConnectionsPerIp: number
  readonly heartbeatIntervalMs: number
  readonly heartbeatTimeoutMs: number
  readonly tokenTtlS: number
  /** Leeway for clock skew when checking a token's `exp`/`nbf`/`iat`; 0 = none. */
  readonly clockToleranceS: number
  readonly sweepIntervalMs: number
}

/** A bad configuration value; `message` is one line that names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`)
    this.name = 'ConfigError'
  }
}

type Env = Readonly<Record<string, string | undefined>>

const MIN_SECRET_BYTES = 32
const MAX_SQL_PREFIX = 29
const POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres'
const DEFAULT_DATABASE_URL: Record<Store, string> = {
  memory: POSTGRES,
  redis: POSTGRES,
  postgres: POSTGRES,
  mysql: 'mysql://root@127.0.0.1:3306/test',
}
const SQL_SCHEMES = ['postgres:', 'postgresql:', 'mysql:']
const DATABASE_SCHEMES: Record<Store, readonly string[]> = {
  memory: SQL_SCHEMES,
  redis: SQL_SCHEMES,
  postgres: ['postgres:', 'postgresql:'],
  mysql: ['mysql:'],
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const value = env[name] || fallback
  if (!(values as readonly string[]).includes(value)) {
    throw new ConfigError(name, `must be one of ${values.join(', ')}; got '${value}'`)
  }
  return value as T
}

function integer(env: Env, name: string, fallback: number, min = 1, max = 2 ** 31 - 1): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}; got '${raw}'`)
  }
  return value
}

function url(env: Env, name: string, fallback: string, schemes: readonly string[]): string {
  const value = env[name] || fallback
  let protocol: string
  try {
    protocol = new URL(value).protocol
  } catch {
    throw new ConfigError(name, 'must be a URL')
  }
  if (!schemes.includes(protocol)) {
    throw new ConfigError(name, `must start with ${schemes.map((s) => `${s}//`).join(' or ')}`)
  }
  return value
}

function origins(env: Env, name: string): string[] | undefined {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  return raw.split(',').map((item) => {
    const origin = item.trim()
    let parsed: URL | undefined
    try {
      parsed = new URL(origin)
    } catch {
      parsed = undefined
    }
    if (!parsed || parsed.origin !== origin || !/^https?:$/.test(parsed.protocol)) {
      throw new ConfigError(name, `'${origin}' is not an origin like https://chat.example.com`)
    }
    return origin
  })
}

function secret(env: Env, name: string): { secret: string; generated: boolean } {
  const value = env[name]
  if (value === undefined || value === '') {
    return { secret: randomBytes(32).toString('base64url'), generated: true }
  }
  if (Buffer.byteLength(value) < MIN_SECRET_BYTES) {
    throw new ConfigError(name, `must be at least ${MIN_SECRET_BYTES} bytes`)
  }
  return { secret: value, generated: false }
}

/** Reads the configuration; throws {@link ConfigError} on the first bad value. */
/** Comma-separated `host:port` seeds of a Redis Cluster; undefined when unset. */
function clusterNodes(env: Env, variable: string): ClusterNodeAddress[] | undefined {
  const value = env[variable]
  if (!value) return undefined
  try {
    return parseClusterNodes(value, variable)
  } catch (error) {
    throw new ConfigError(variable, (error as Error).message.replace(`ws-warden: ${variable} `, ''))
  }
}

export function parseConfig(env: Env): DemoConfig {
  const store = oneOf(env, 'WARDEN_STORE', STORES, 'memory')
  const host = env.HOST || '127.0.0.1'
  const prefix = env.WARDEN_PREFIX || 'ws_warden'
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,39}$/.test(prefix)) {
    throw new ConfigError(
      'WARDEN_PREFIX',
      'must be a letter or _ then up to 39 letters, digits or _',
    )
  }
  if ((store === 'postgres' || store === 'mysql') && prefix.length > MAX_SQL_PREFIX) {
    // Tables are `<prefix>_sessions` and so on; the SQL stores take prefixes of up to 30.
    throw new ConfigError(
      'WARDEN_PREFIX',
      `must be at most ${MAX_SQL_PREFIX} characters with WARDEN_STORE=${store}`,
    )
  }
  const { secret: tokenSecret, generated } = secret(env, 'WARDEN_TOKEN_SECRET')
  const heartbeatIntervalMs = integer(env, 'WARDEN_HEARTBEAT_INTERVAL_MS', 25_000)
  const heartbeatTimeoutMs = integer(env, 'WARDEN_HEARTBEAT_TIMEOUT_MS', 10_000)
  if (heartbeatTimeoutMs > heartbeatIntervalMs) {
    throw new ConfigError(
      'WARDEN_HEARTBEAT_TIMEOUT_MS',
      'must not exceed WARDEN_HEARTBEAT_INTERVAL_MS',
    )
  }
  return {
    host,
    port: integer(env, 'PORT', 3000, 0, 65_535),
    adapter: oneOf(env, 'WARDEN_ADAPTER', ADAPTERS, 'fastify'),
    store,
    redisUrl: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    redisUrlSet: Boolean(env.REDIS_URL),
    redisClusterNodes: clusterNodes(env, 'REDIS_CLUSTER_NODES'),
    databaseUrl: url(env, 'DATABASE_URL', DEFAULT_DATABASE_URL[store], DATABASE_SCHEMES[store]),
    broker: oneOf(env, 'WARDEN_BROKER', BROKERS, 'store'),
    natsUrl: url(env, 'NATS_URL', 'nats://127.0.0.1:4222', ['nats:', 'tls:']),
    prefix,
    tokenSecret,
    tokenSecretGenerated: generated,
    allowedOrigins: origins(env, 'WARDEN_ALLOWED_ORIGINS'),
    connectLimit: integer(env, 'WARDEN_CONNECT_LIMIT', 20),
    messageRate: integer(env, 'WARDEN_MESSAGE_RATE', 20),
    maxMessageBytes: integer(env, 'WARDEN_MAX_MESSAGE_BYTES', 65_536),
    maxConnectionsPerUser: integer(env, 'WARDEN_MAX_CONNECTIONS_PER_USER', 5),
    maxConnectionsPerIp: integer(env, 'WARDEN_MAX_CONNECTIONS_PER_IP', 100),
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    tokenTtlS: integer(env, 'WARDEN_TOKEN_TTL_S', 60, 1, 3600),
    clockToleranceS: integer(env, 'WARDEN_CLOCK_TOLERANCE_S', 5, 0, 3600),
    sweepIntervalMs: integer(env, 'WARDEN_SWEEP_INTERVAL_MS', 300_000),
  }
}
