/**
 * The `memory:` store: the in-process stores given by the caller, else fresh empty ones.
 *
 * @module
 */
import { MemoryRateLimitStore, MemorySessionStore, MemoryTokenStore } from '@ws-warden/core/stores'
import type { StoreUrl } from '../store-url.js'
import type { MemoryStores, OpenedStore } from './types.js'

/** `memory:`: the stores given (tests, embedding), else fresh empty ones in this process. */
export function openMemory(url: StoreUrl, given: MemoryStores = {}): OpenedStore {
  return {
    url,
    sessions: given.sessions ?? new MemorySessionStore(),
    tokens: given.tokens ?? new MemoryTokenStore(),
    rateLimits: given.rateLimits ?? new MemoryRateLimitStore(),
    close: async () => {},
  }
}
