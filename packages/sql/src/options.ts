/**
 * The SQL stores' options: how to reach the tables (pool or URL, schema, prefix), their resolved
 * form, the checks on keys, contents and times (counts, clocks and `onError` are read with core's
 * validators, from `@ws-warden/core/stores`), and who closes the pool.
 *
 * @module
 */
import type { Clock } from '@ws-warden/core'
import { clockOption, countOption, isNonEmptyString } from '@ws-warden/core/stores'
import { createPool, openDatabase, type Database, type SqlPool } from './database.js'

/** Where the tables are and how to reach them: shared by the stores and {@link migrate}. */
export interface SqlConnectionOptions {
  /**
   * Your own pool: a `pg.Pool`, or a `mysql2` pool (`mysql2/promise` or callback style). The
   * store never ends it. Give a `pg.Pool` an `'error'` listener and a `connectionTimeoutMillis`.
   * Exactly one of `pool` and `url`.
   */
  readonly pool?: SqlPool | undefined
  /**
   * A `postgres://`, `postgresql://`, `mysql://` or `mariadb://` URL: the store creates its own
   * pool (the driver must be installed) and ends it in `close()`.
   */
  readonly url?: string | undefined
  /**
   * Prepended to every table name (and, for the broker, to every channel name): letters, digits
   * and `_`, at most 30 characters.
   * @default 'ws_warden_'
   */
  readonly prefix?: string | undefined
  /**
   * PostgreSQL only: the schema that holds the tables (it must exist, or be created by
   * {@link migrate}).
   * @default unqualified names, resolved through the connection's `search_path`
   */
  readonly schema?: string | undefined
  /**
   * How long one statement may run before it fails and its connection is closed (pg
   * `query_timeout`, mysql2 `timeout`); a wait for a cap lock gives up after half of it. A pool
   * created from `url` also uses it as its connect timeout.
   * @default 5000
   */
  readonly timeoutMs?: number | undefined
}

/** Options of every SQL store. */
export interface SqlStoreOptions extends SqlConnectionOptions {
  /**
   * Rows per statement when sweeping, and ids per statement when touching.
   * @default 5000
   */
  readonly batchSize?: number | undefined
  /** Where time comes from. @default Date */
  readonly clock?: Clock | undefined
}

/** The quoted, qualified names of the package's tables. */
export interface Tables {
  readonly sessions: string
  readonly channels: string
  readonly tokens: string
  readonly rateLimits: string
  readonly locks: string
  readonly counters: string
  readonly streams: string
  readonly history: string
  readonly resumes: string
  /** Payloads too large for one NOTIFY, stored by the PostgreSQL broker (PostgreSQL only). */
  readonly brokerPayloads: string
  readonly migrations: string
  /** The one-round-trip admission: a PostgreSQL function, a MySQL procedure (not a table). */
  readonly admit: string
  /** Many admissions in one call (migration 7): a procedure on both dialects. */
  readonly admitMany: string
}

/** What a store works with once its options are checked. */
export interface Resolved {
  readonly db: Database
  /** Whether the store created the pool, and so ends it. */
  readonly owned: boolean
  readonly tables: Tables
  /** The option `prefix`, checked (also the broker's channel prefix). */
  readonly prefix: string
  /** `prefix + name`, quoted and unqualified: an index name (PostgreSQL puts it in its table's schema). */
  readonly bare: (name: string) => string
  readonly schema: string | undefined
  readonly batchSize: number
  /** How long one statement may run (the option `timeoutMs`, checked). */
  readonly timeoutMs: number
  readonly clock: Clock
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The largest id, key or channel name in bytes (MySQL's `VARBINARY(512)` columns). */
export const MAX_KEY_BYTES = 512

/** Whether `value` is a non-empty string that fits the key columns. */
export function isKey(value: unknown): value is string {
  return (
    isNonEmptyString(value) && !value.includes('\0') && Buffer.byteLength(value) <= MAX_KEY_BYTES
  )
}

/** Throws unless `value` is a non-empty string that fits the key columns. */
export function key(what: string, value: unknown): string {
  if (!isKey(value)) {
    throw new TypeError(
      `ws-warden: ${what} must be a non-empty string of at most ${MAX_KEY_BYTES} bytes without NUL`,
    )
  }
  return value
}

/** Throws unless `value` is a string without NUL (a frame or a state: JSON text). */
export function content(what: string, value: unknown): string {
  if (typeof value !== 'string' || value.includes('\0')) {
    throw new TypeError(`ws-warden: ${what} must be a string without NUL`)
  }
  return value
}

/** Throws unless `value` is a finite number (an epoch time in milliseconds). */
export function time(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`ws-warden: ${what} must be a finite epoch time in ms`)
  }
  return Math.floor(value)
}

/** Checks the options `owner` was given and opens its database. */
export function resolve(owner: string, options: SqlStoreOptions): Resolved {
  const { pool, url } = options ?? {}
  if ((pool === undefined) === (url === undefined)) {
    throw new TypeError(`ws-warden: ${owner} needs exactly one of the options pool and url`)
  }
  const prefix = options.prefix ?? 'ws_warden_'
  if (typeof prefix !== 'string' || !identifier.test(prefix) || prefix.length > 30) {
    throw new TypeError(
      `ws-warden: ${owner} option prefix must be letters, digits and _ (at most 30), got ${String(prefix)}`,
    )
  }
  const { schema } = options
  if (schema !== undefined && (typeof schema !== 'string' || !identifier.test(schema))) {
    throw new TypeError(`ws-warden: ${owner} option schema must be letters, digits and _`)
  }
  const timeoutMs = countOption(owner, 'timeoutMs', options.timeoutMs, 5_000)
  const batchSize = countOption(owner, 'batchSize', options.batchSize, 5_000)
  // `?? undefined`: a null clock has always meant the system clock here.
  const clock = clockOption(owner, options.clock ?? undefined)
  if (url !== undefined && typeof url !== 'string') {
    throw new TypeError(`ws-warden: ${owner} option url must be a string`)
  }
  const db = openDatabase(
    pool ?? createPool(url as string, timeoutMs),
    `${schema ?? ''}.${prefix}`,
    timeoutMs,
  )
  if (schema !== undefined && db.dialect.name === 'mysql') {
    if (pool === undefined) void db.end().catch(() => {})
    throw new TypeError(`ws-warden: ${owner} option schema is for PostgreSQL only`)
  }
  const quote = db.dialect.name === 'postgres' ? (n: string) => `"${n}"` : (n: string) => `\`${n}\``
  const table = (name: string) =>
    schema === undefined ? quote(prefix + name) : `${quote(schema)}.${quote(prefix + name)}`
  const tables: Tables = {
    sessions: table('sessions'),
    channels: table('session_channels'),
    tokens: table('tokens'),
    rateLimits: table('rate_limits'),
    locks: table('locks'),
    counters: table('counters'),
    streams: table('streams'),
    history: table('history'),
    resumes: table('resumes'),
    brokerPayloads: table('broker_payloads'),
    migrations: table('migrations'),
    admit: table('admit'),
    admitMany: table('admit_many'),
  }
  return {
    db,
    owned: pool === undefined,
    tables,
    prefix,
    bare: (name) => quote(prefix + name),
    schema: schema === undefined ? undefined : quote(schema),
    batchSize,
    timeoutMs,
    clock,
  }
}

/** Ends a store's pool once, if the store created it. */
export function closer(resolved: Resolved): () => Promise<void> {
  let closing: Promise<void> | undefined
  return () => (closing ??= resolved.owned ? resolved.db.end() : Promise.resolve())
}
