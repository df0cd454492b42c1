/**
 * The stores behind the demo's warden, chosen by `WARDEN_STORE`:
 *
 * - `memory`: this process only (the default; no service needed);
 * - `redis`: every store and the pub/sub broker in Redis (`REDIS_URL`), or in a Redis Cluster
 *   (`REDIS_CLUSTER_NODES`);
 * - `postgres`: the SQL stores in PostgreSQL (`DATABASE_URL`) and the `LISTEN/NOTIFY` broker;
 * - `mysql`: the SQL stores in MySQL/MariaDB (`DATABASE_URL`); no SQL broker exists for it, so
 *   processes fan out through Redis when `REDIS_URL` is set, and not at all otherwise.
 *
 * Session resumption needs a `history` and a `resumes` store that every process shares: the
 * memory set has them (one process), the Redis and SQL sets pass theirs through; a set without
 * both runs without resumption.
 *
 * With `WARDEN_BROKER=nats` the processes fan out through NATS (`NATS_URL`, subjects under
 * `WARDEN_PREFIX`) instead, whatever the store: the set's own broker is not made. With the memory
 * set that shares messages only (sessions, tokens, limits stay per process, so resumption is off).
 *
 * Processes with the same store and `WARDEN_PREFIX` act as one service. The SQL tables are
 * created or upgraded at start-up (`migrate`, an explicit call: a real deployment would run it
 * from its deploy step). A store that cannot be reached at start-up is a {@link ConfigError}
 * naming its variable.
 *
 * @module
 */
import type { Logger } from '@ws-warden/core'
import type {
  AdmissionStore,
  Broker,
  HistoryStore,
  LockStore,
  RateLimitStore,
  ResumeStore,
  SessionStore,
  TokenStore,
} from '@ws-warden/core/stores'
import {
  MemoryAdmissionStore,
  MemoryHistoryStore,
  MemoryLockStore,
  MemoryRateLimitStore,
  MemoryResumeStore,
  MemorySessionStore,
  MemoryTokenStore,
} from '@ws-warden/core/stores'
import type { RedisStores } from '@ws-warden/redis'
import { createRedisStores } from '@ws-warden/redis'
import type { SqlStores } from '@ws-warden/sql'
import { createSqlStores, migrate, PostgresBroker } from '@ws-warden/sql'
import { NatsBroker } from '@ws-warden/nats'
import type { DemoConfig, Store } from './config.js'
import { ConfigError } from './config.js'

/** The stores one demo process uses, created (and closed) by the demo, not by the warden. */
export interface DemoStores {
  readonly sessions: SessionStore
  readonly tokens: TokenStore
  readonly rateLimits: RateLimitStore
  /** The sweep lock: of the processes sharing it, one sweeps at a time. */
  readonly locks: LockStore
  /** Fan-out to the other processes; none for a store only this process uses. */
  readonly broker?: Broker
  /**
   * Every fan-out frame, per stream, for replay on resumption; with `resumes`, or not at all
   * (see {@link resumable}).
   */
  readonly history?: HistoryStore
  /** Resumable sessions; with `history`, or not at all. */
  readonly resumes?: ResumeStore
  /** The store set's one-round-trip admission (memory, Redis, PostgreSQL, MySQL), when it has one. */
  readonly admission?: AdmissionStore
  close(): Promise<void>
}

/**
 * Whether the stores can resume sessions: they have `history` and `resumes`. Without them the
 * warden would keep both in this process's memory, which is wrong for processes sharing a
 * broker (each would number the same streams its own way), so the demo turns resumption off.
 */
export function resumable(
  stores: DemoStores,
): stores is DemoStores & Required<Pick<DemoStores, 'history' | 'resumes'>> {
  return stores.history !== undefined && stores.resumes !== undefined
}

/**
 * The demo's stores from a store set of the Redis or SQL package: its `history` and `resumes`
 * when it has both (a package without them still type-checks: they are optional here), and
 * another broker or `close` when given.
 */
export function fromSet(
  set: DemoStores,
  other: { readonly broker?: Broker; readonly close?: () => Promise<void> } = {},
): DemoStores {
  const { sessions, tokens, rateLimits, locks, history, resumes, admission } = set
  const broker = other.broker ?? set.broker
  return {
    sessions,
    tokens,
    rateLimits,
    locks,
    ...(admission && { admission }),
    ...(broker && { broker }),
    ...(history && resumes && { history, resumes }),
    close: other.close ?? (() => set.close()),
  }
}

type Factory = (config: DemoConfig, logger: Logger) => Promise<DemoStores>

async function memoryStores(): Promise<DemoStores> {
  const sessions = new MemorySessionStore()
  const tokens = new MemoryTokenStore()
  const rateLimits = new MemoryRateLimitStore()
  const locks = new MemoryLockStore()
  const history = new MemoryHistoryStore()
  const resumes = new MemoryResumeStore()
  const all = [sessions, tokens, rateLimits, locks, history, resumes]
  return {
    sessions,
    tokens,
    rateLimits,
    locks,
    history,
    resumes,
    // The memory stores' admission in one synchronous step, as a warden's own memory stores get.
    admission: new MemoryAdmissionStore({ sessions, tokens, rateLimits }),
    async close() {
      await Promise.all(all.map((store) => store.close()))
    },
  }
}

/** Every Redis store and the broker, on `REDIS_URL`, under `WARDEN_PREFIX`. */
async function redisStores(config: DemoConfig, logger: Logger): Promise<DemoStores> {
  return fromSet(await redisSet(config, logger))
}

async function redisSet(config: DemoConfig, logger: Logger): Promise<RedisStores> {
  const errors = storeErrors(logger, 'redis')
  // With REDIS_CLUSTER_NODES, a Redis Cluster (keys spread over its slots, sharded pub/sub).
  const nodes = config.redisClusterNodes
  try {
    return await createRedisStores({
      ...(nodes === undefined ? { url: config.redisUrl } : { cluster: { nodes } }),
      prefix: config.prefix,
      onError: errors.report,
    })
  } catch (error) {
    if (nodes === undefined) {
      throw unreachable('REDIS_URL', 'Redis', config.redisUrl, errors.first ?? error)
    }
    const seeds = nodes.map(({ host, port }) => `${host}:${port}`).join(',')
    const cause = message(errors.first ?? error)
    throw new ConfigError('REDIS_CLUSTER_NODES', `cannot reach Redis Cluster at ${seeds}: ${cause}`)
  } finally {
    errors.started()
  }
}

/** The SQL stores on `DATABASE_URL`, its tables migrated first; `WARDEN_PREFIX`_ prefixes them. */
async function sqlStores(config: DemoConfig, logger: Logger): Promise<SqlStores> {
  const options = { url: config.databaseUrl, prefix: sqlPrefix(config) }
  try {
    const { applied, version } = await migrate(options)
    if (applied.length > 0) {
      logger.info({ event: 'migrate', applied, version }, 'SQL tables migrated')
    }
  } catch (error) {
    const service = config.store === 'postgres' ? 'PostgreSQL' : 'MySQL'
    throw unreachable('DATABASE_URL', service, config.databaseUrl, error)
  }
  return createSqlStores(options)
}

async function postgresStores(config: DemoConfig, logger: Logger): Promise<DemoStores> {
  const stores = await sqlStores(config, logger)
  const broker = new PostgresBroker({
    url: config.databaseUrl,
    prefix: sqlPrefix(config),
    onError: (error, topic) =>
      logger.warn(
        { event: 'store_error', store: 'postgres', topic, err: message(error) },
        'broker',
      ),
  })
  return fromSet(stores, {
    broker,
    async close() {
      await Promise.all([broker.close(), stores.close()])
    },
  })
}

async function mysqlStores(config: DemoConfig, logger: Logger): Promise<DemoStores> {
  if (!config.redisUrlSet) {
    logger.warn(
      { event: 'config', variable: 'REDIS_URL' },
      'WARDEN_STORE=mysql has no broker without REDIS_URL: run one process, or set REDIS_URL',
    )
    return fromSet(await sqlStores(config, logger))
  }
  // Redis first (nothing to undo if it does not answer); only its broker is used: the records
  // stay in MySQL.
  const redis = await redisSet(config, logger)
  let stores: SqlStores
  try {
    stores = await sqlStores(config, logger)
  } catch (error) {
    await redis.close()
    throw error
  }
  return fromSet(stores, {
    broker: redis.broker,
    async close() {
      await Promise.all([redis.close(), stores.close()])
    },
  })
}

const factories: Record<Store, Factory> = {
  memory: memoryStores,
  redis: redisStores,
  postgres: postgresStores,
  mysql: mysqlStores,
}

/**
 * Creates the configured stores, once their service answers. Connection errors after start-up
 * go to `logger`; before, the first one explains the {@link ConfigError}.
 */
export function createStores(config: DemoConfig, logger: Logger): Promise<DemoStores> {
  if (config.broker === 'nats') return withNats(config, logger)
  return factories[config.store](config, logger)
}

/** The store set without a broker of its own, and a NATS broker on `NATS_URL`. */
async function withNats(config: DemoConfig, logger: Logger): Promise<DemoStores> {
  // NATS first: nothing to undo if it does not answer.
  const errors = storeErrors(logger, 'nats')
  const broker = new NatsBroker({
    servers: config.natsUrl,
    prefix: config.prefix,
    onError: (error, topic) =>
      topic === undefined
        ? errors.report(error)
        : logger.warn(
            { event: 'store_error', store: 'nats', topic, err: message(error) },
            'broker',
          ),
  })
  try {
    await broker.ready()
  } catch (error) {
    await broker.close()
    throw unreachable('NATS_URL', 'NATS', config.natsUrl, errors.first ?? error)
  } finally {
    errors.started()
  }
  let set: DemoStores
  try {
    set = await storesWithoutBroker(config, logger)
  } catch (error) {
    await broker.close()
    throw error
  }
  return fromSet(set, {
    broker,
    async close() {
      await Promise.all([broker.close(), set.close()])
    },
  })
}

async function storesWithoutBroker(config: DemoConfig, logger: Logger): Promise<DemoStores> {
  if (config.store === 'redis') return redisStores(config, logger)
  if (config.store !== 'memory') return fromSet(await sqlStores(config, logger))
  logger.warn(
    { event: 'config', variable: 'WARDEN_BROKER' },
    'WARDEN_STORE=memory with WARDEN_BROKER=nats: messages cross processes; sessions, tokens, limits and resumption stay per process',
  )
  // This process's history would number streams its own way: no resumption (see resumable).
  // The set's close still closes them.
  const { history: _history, resumes: _resumes, ...rest } = await memoryStores()
  return rest
}

/** The SQL table (and NOTIFY channel) prefix: `ws_warden` makes `ws_warden_sessions`. */
function sqlPrefix(config: DemoConfig): string {
  return `${config.prefix}_`
}

/**
 * A client's error listener: silent until start-up is over (the first error is kept, to explain
 * a failed start), then a warning per error. Clients retry by themselves; the warden answers 503
 * while a store is away.
 */
function storeErrors(logger: Logger, store: string) {
  let starting = true
  const errors = {
    first: undefined as unknown,
    report: (error: unknown) => {
      if (starting) errors.first ??= error
      else logger.warn({ event: 'store_error', store, err: message(error) }, `${store} error`)
    },
    started: () => void (starting = false),
  }
  return errors
}

/** The one-line start-up error for a store that does not answer. */
function unreachable(variable: string, service: string, url: string, cause: unknown): ConfigError {
  return new ConfigError(variable, `cannot reach ${service} at ${redacted(url)}: ${message(cause)}`)
}

function message(error: unknown): string {
  // A refused connection to `localhost` (IPv4 and IPv6) is an AggregateError without a message.
  if (error instanceof AggregateError && error.message === '' && error.errors.length > 0) {
    return message(error.errors[0])
  }
  const text = error instanceof Error ? error.message : String(error)
  return text.replace(/\s+/g, ' ').trim() || 'no answer'
}

/** The URL without its password. */
function redacted(url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  return parsed.toString()
}
