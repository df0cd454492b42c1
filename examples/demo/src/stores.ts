/**
 * The stores behind the demo's warden, chosen by `WARDEN_STORE`. Only the memory store exists so
 * far; Redis and SQL slot in here as their packages land.
 */
import type { Broker, RateLimitStore, SessionStore, TokenStore } from '@ws-warden/core'
import { MemoryRateLimitStore, MemorySessionStore, MemoryTokenStore } from '@ws-warden/core'
import type { DemoConfig, Store } from './config.js'
import { ConfigError } from './config.js'

/** The stores one demo process uses, created (and closed) by the demo, not by the warden. */
export interface DemoStores {
  readonly sessions: SessionStore
  readonly tokens: TokenStore
  readonly rateLimits: RateLimitStore
  readonly broker?: Broker
  close(): Promise<void>
}

function memoryStores(): DemoStores {
  const sessions = new MemorySessionStore()
  const tokens = new MemoryTokenStore()
  const rateLimits = new MemoryRateLimitStore()
  return {
    sessions,
    tokens,
    rateLimits,
    async close() {
      await Promise.all([sessions.close(), tokens.close(), rateLimits.close()])
    },
  }
}

const factories: Record<Store, ((config: DemoConfig) => DemoStores) | undefined> = {
  memory: memoryStores,
  redis: undefined,
  postgres: undefined,
  mysql: undefined,
}

/** Creates the configured stores; a store not available yet is a {@link ConfigError}. */
export function createStores(config: DemoConfig): DemoStores {
  const factory = factories[config.store]
  if (!factory) {
    throw new ConfigError('WARDEN_STORE', `'${config.store}' is not available yet; use memory`)
  }
  return factory(config)
}
