/**
 * ws-warden's stores on PostgreSQL (`pg`) and MySQL/MariaDB (`mysql2`), their migrations, and a
 * broker over PostgreSQL `LISTEN/NOTIFY`.
 *
 * @packageDocumentation
 */
import { SqlAdmissionStore } from './admission.js'
import { createPool } from './database.js'
import { SqlHistoryStore } from './history.js'
import { SqlLockStore } from './locks.js'
import type { SqlStoreOptions } from './options.js'
import { SqlRateLimitStore } from './rate-limits.js'
import { SqlResumeStore } from './resumes.js'
import { SqlSessionStore } from './sessions.js'
import { SqlTokenStore } from './tokens.js'

export type {
  MySqlCallbackPool,
  MySqlConnection,
  MySqlPool,
  PgClient,
  PgPool,
  PgResult,
  Row,
  SqlPool,
} from './database.js'
export { migrate, migrations, type Migration, type MigrationReport } from './migrations.js'
export { MAX_KEY_BYTES, type SqlConnectionOptions, type SqlStoreOptions } from './options.js'
export { setSessionTablesUnlogged } from './unlogged.js'
export { PostgresBroker, type PostgresBrokerOptions } from './broker.js'
export { MAX_INLINE_BYTES, PayloadTooLargeError } from './broker-payloads.js'
export {
  SqlAdmissionStore,
  SqlHistoryStore,
  SqlLockStore,
  SqlRateLimitStore,
  SqlResumeStore,
  SqlSessionStore,
  SqlTokenStore,
}
export type { SqlAdmissionStoreOptions } from './admission.js'
export type { SqlHistoryStoreOptions } from './history.js'
export type { SqlRateLimitStoreOptions } from './rate-limits.js'

/** The SQL stores over one pool, as {@link createSqlStores} returns them. */
export interface SqlStores {
  readonly sessions: SqlSessionStore
  readonly tokens: SqlTokenStore
  readonly rateLimits: SqlRateLimitStore
  readonly locks: SqlLockStore
  /** Per-stream history of fan-out frames (used when the warden's `resumption` is on). */
  readonly history: SqlHistoryStore
  /** Resumable sessions (used when the warden's `resumption` is on). */
  readonly resumes: SqlResumeStore
  /**
   * Admission in one round trip over `sessions`, `tokens` and `rateLimits` (migration 3 installs
   * its routine). Absent with `rateLimitFailOpen`: attempts counted in the same transaction as
   * the token cannot fail open on their own, so the warden composes the three calls instead.
   */
  readonly admission?: SqlAdmissionStore
  /** Closes the stores, and ends the pool if it was created from `url`. */
  close(): Promise<void>
}

/** Options of {@link createSqlStores}. */
export interface SqlStoresOptions extends SqlStoreOptions {
  /**
   * Allow connect attempts when the database fails or is slow (`failOpen` of
   * {@link SqlRateLimitStore}); token consumption and connection caps always fail closed.
   * @default false
   */
  readonly rateLimitFailOpen?: boolean | undefined
  /** Receives the errors that `rateLimitFailOpen` turned into an allowed hit. @default ignored */
  readonly onError?: ((error: unknown) => void) | undefined
  /**
   * PostgreSQL only: `'off'` lets an admission answer before its commit is flushed to disk; a
   * crash of the database server can then lose the last moments' admissions, and let their
   * tokens be used once more (see `admissionSynchronousCommit` of {@link SqlAdmissionStore}).
   * @default 'on'
   */
  readonly admissionSynchronousCommit?: 'on' | 'off' | undefined
  /**
   * How long the history store keeps a stream's record once its newest entry expired
   * (`streamRetentionMs` of {@link SqlHistoryStore}).
   * @default 86400000 (a day)
   */
  readonly streamRetentionMs?: number | undefined
}

/**
 * The session, token, rate-limit, lock, history and resume stores over one pool: yours (`pool`)
 * or one created from `url`, which `close()` ends. Pass the result as the warden's `stores` (it
 * ignores `close`), and run {@link migrate} first.
 */
export function createSqlStores(options: SqlStoresOptions): SqlStores {
  const { url, pool } = options ?? {}
  if (url !== undefined && pool !== undefined) {
    throw new TypeError('ws-warden: createSqlStores needs exactly one of the options pool and url')
  }
  const created = typeof url === 'string' ? createPool(url, options.timeoutMs ?? 5_000) : undefined
  const shared = { ...options, url: undefined, pool: created ?? pool }
  try {
    const admitted = {
      sessions: new SqlSessionStore(shared),
      tokens: new SqlTokenStore(shared),
      rateLimits: new SqlRateLimitStore({ ...shared, failOpen: options.rateLimitFailOpen }),
    }
    const stores = {
      ...admitted,
      locks: new SqlLockStore(shared),
      history: new SqlHistoryStore(shared),
      resumes: new SqlResumeStore(shared),
      ...(options.rateLimitFailOpen !== true && {
        admission: new SqlAdmissionStore({ ...shared, ...admitted }),
      }),
    }
    let closing: Promise<void> | undefined
    const close = async () => void (await created?.end())
    return { ...stores, close: () => (closing ??= close()) }
  } catch (error) {
    void created?.end().catch(() => {})
    throw error
  }
}
