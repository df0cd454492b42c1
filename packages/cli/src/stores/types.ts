/**
 * The types of an opened store: how to reach it, what `memory:` stands for, and the stores and
 * `close` a command gets.
 *
 * @module
 */
import type { RateLimitStore, SessionStore, TokenStore } from '@ws-warden/core/stores'
import type { StoreUrl } from '../store-url.js'

/** The stores `memory:` stands for; any left out are fresh, empty memory stores. */
export interface MemoryStores {
  readonly sessions?: SessionStore | undefined
  readonly tokens?: TokenStore | undefined
  readonly rateLimits?: RateLimitStore | undefined
}

/** How to reach a store: what `--prefix`, `--schema` and `--timeout` said. */
export interface ConnectOptions {
  /** Key or table prefix; undefined for the store's own default. */
  readonly prefix?: string | undefined
  /** PostgreSQL schema; undefined for the connection's `search_path`. */
  readonly schema?: string | undefined
  /** How long to wait for the store to answer when connecting (and, on SQL, per statement). */
  readonly timeoutMs: number
  /** What `memory:` stands for (tests, embedding). */
  readonly memory?: MemoryStores | undefined
  /** The command, for errors that point at its help. */
  readonly command: string
}

/** The stores a command works on, connected, and how to let go of them. */
export interface OpenedStore {
  readonly url: StoreUrl
  readonly sessions: SessionStore
  readonly tokens: TokenStore
  readonly rateLimits: RateLimitStore
  /** Ends the connections the CLI made (never closes stores it was given). */
  close(): Promise<void>
}
