/**
 * The in-process lock store: named locks with a TTL, for one process.
 *
 * @module
 */
import type { Clock } from '../types.js'
import type { LockStore, ReleaseLock } from '../store-contracts.js'
import { clockOption, positiveInteger } from '../validate.js'

/** Options of `MemoryLockStore`. */
export interface MemoryLockStoreOptions {
  /** @default Date.now */
  readonly clock?: Clock | undefined
}

/**
 * Locks for one process (or several wardens in one process). A lock whose holder never released
 * it is free again once its `ttlMs` has passed.
 */
export class MemoryLockStore implements LockStore {
  private readonly held = new Map<string, { token: symbol; expiresAt: number }>()
  private readonly clock: Clock

  constructor(options: MemoryLockStoreOptions = {}) {
    this.clock = clockOption('MemoryLockStore', options.clock)
  }

  async acquire(name: string, ttlMs: number): Promise<ReleaseLock | null> {
    positiveInteger('MemoryLockStore.acquire ttlMs', ttlMs)
    const now = this.clock.now()
    const current = this.held.get(name)
    if (current && current.expiresAt > now) return null
    const token = Symbol(name)
    this.held.set(name, { token, expiresAt: now + ttlMs })
    return async () => {
      // Only the holder that took it may release it: an expired holder must not free a successor.
      if (this.held.get(name)?.token === token) this.held.delete(name)
    }
  }

  /** Drops every lock. */
  async close(): Promise<void> {
    this.held.clear()
  }
}
