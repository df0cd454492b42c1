import type { Clock } from '@ws-warden/core'
import type {
  AdmissionStore,
  Broker,
  RateLimitStore,
  SessionStore,
  TokenStore,
} from '@ws-warden/core/stores'
import { MemoryRateLimitStore, MemorySessionStore, MemoryTokenStore } from '@ws-warden/core/stores'
import { createRedisStores } from '@ws-warden/redis'
import { createSqlStores, migrate } from '@ws-warden/sql'
import mysql from 'mysql2/promise'
import pg from 'pg'
import type { StoreKind } from './services.js'
import { MYSQL_URL, POSTGRES_URL, REDIS_URL } from './services.js'

/** One kind of store, opened for a run. */
export interface OpenedStores {
  readonly sessions: SessionStore
  readonly tokens: TokenStore
  readonly rateLimits: RateLimitStore
  readonly broker?: Broker
  /** The store's own one-round-trip admission over these three stores, if it has one. */
  readonly admission?: AdmissionStore
  /** Runs raw SQL on the pool (SQL stores only), for bulk set-up. */
  readonly sql?: (text: string, params?: unknown[]) => Promise<unknown>
  /** The quoted name of one of the package's tables (SQL stores only). */
  readonly table?: (name: 'tokens' | 'sessions') => string
  close(): Promise<void>
}

/** SQL table prefix inside a run's schema (PostgreSQL) or database (MySQL: `<name>_`). */
const PG_PREFIX = 'wsw_'

/**
 * Opens one kind of store under `name`: a Redis key prefix, a PostgreSQL schema, a MySQL table
 * prefix. SQL pools have 8 connections, as in the anchors. `cleanup(kind, name)` removes it all
 * (on a cluster of the benchmark's own, stopping the cluster does).
 */
export async function openStores(
  kind: StoreKind,
  name: string,
  options: { broker?: boolean; clock?: Clock; cluster?: readonly string[] } = {},
): Promise<OpenedStores> {
  const clock = options.clock
  switch (kind) {
    case 'memory': {
      const stores = {
        sessions: new MemorySessionStore({ maxSessions: 2_000_000 }),
        tokens: new MemoryTokenStore({ max: 2_000_000, ...(clock && { clock }) }),
        rateLimits: new MemoryRateLimitStore({ ...(clock && { clock }) }),
      }
      return {
        ...stores,
        close: async () => {
          await Promise.all([
            stores.sessions.close?.(),
            stores.tokens.close(),
            stores.rateLimits.close?.(),
          ])
        },
      }
    }
    case 'redis': {
      // A Redis Cluster's seeds (see redis-cluster.ts), else the standalone Redis.
      const stores = await createRedisStores({
        ...(options.cluster ? { cluster: { nodes: options.cluster } } : { url: REDIS_URL }),
        prefix: name,
      })
      return {
        sessions: stores.sessions,
        tokens: stores.tokens,
        rateLimits: stores.rateLimits,
        ...(stores.admission && { admission: stores.admission }),
        ...(options.broker && { broker: stores.broker }),
        close: () => stores.close(),
      }
    }
    case 'postgres': {
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 8 })
      pool.on('error', () => undefined)
      const common = { pool, schema: name, prefix: PG_PREFIX }
      await migrate(common)
      const stores = createSqlStores({ ...common, ...(clock && { clock }) })
      return {
        sessions: stores.sessions,
        tokens: stores.tokens,
        rateLimits: stores.rateLimits,
        ...(stores.admission && { admission: stores.admission }),
        sql: (text, params) => pool.query(text, params),
        table: (table) => `"${name}"."${PG_PREFIX}${table}"`,
        close: async () => {
          await stores.close()
          await pool.end()
        },
      }
    }
    case 'mysql': {
      const pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 8 })
      const prefix = `${name}_`
      await migrate({ pool, prefix })
      const stores = createSqlStores({ pool, prefix, ...(clock && { clock }) })
      return {
        sessions: stores.sessions,
        tokens: stores.tokens,
        rateLimits: stores.rateLimits,
        ...(stores.admission && { admission: stores.admission }),
        sql: (text, params) => pool.query(text, params),
        table: (table) => `\`${prefix}${table}\``,
        close: async () => {
          await stores.close()
          await pool.end()
        },
      }
    }
  }
}
