/**
 * Opening a store from its URL: checks the URL and its options, connects to the memory, Redis or
 * SQL stores, and says how to fix a store that failed.
 *
 * @module
 */
import { UsageError } from '../errors.js'
import { parseStoreUrl, type StoreUrl } from '../store-url.js'
import { openMemory } from './memory.js'
import { openRedis } from './redis.js'
import { openSql } from './sql.js'
import type { ConnectOptions, OpenedStore } from './types.js'

export type { ConnectOptions, MemoryStores, OpenedStore } from './types.js'

/**
 * Checks a store URL and connects to it: resolves the session, token and rate-limit stores once
 * the store has answered. Bad URLs and options are `UsageError`s; a store that does not answer
 * within `timeoutMs` is a `StoreUnreachableError`.
 */
export async function openStore(raw: string, options: ConnectOptions): Promise<OpenedStore> {
  const url = parseStoreUrl(raw, options.command)
  checkSchema(url, options)
  if (url.kind === 'memory') return openMemory(url, options.memory)
  if (url.kind === 'redis') return openRedis(url, options)
  return openSql(url, options)
}

/** `--schema` names a PostgreSQL schema: with any other store it is a usage error. */
export function checkSchema(url: StoreUrl, options: ConnectOptions): void {
  if (url.kind !== 'postgres' && options.schema !== undefined) {
    throw new UsageError('--schema is for PostgreSQL only', options.command)
  }
}

/**
 * A hint for a store error that has a known remedy (tables or schema missing: run `migrate`),
 * or an empty string.
 */
export function remedyFor(error: unknown): string {
  const { code } = Object(error) as { code?: unknown }
  // PostgreSQL: undefined_table, invalid_schema_name. MySQL/MariaDB (mysql2): ER_NO_SUCH_TABLE.
  if (code === '42P01' || code === '3F000' || code === 'ER_NO_SUCH_TABLE') {
    return ' (are the tables there? run `ws-warden migrate` with the same --store, --prefix and --schema)'
  }
  return ''
}
