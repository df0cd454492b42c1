/**
 * The in-process resume store: resumable sessions by id, claimed once with their credential hash.
 *
 * @module
 */
import type { ExpiredSession, ResumableSession, ResumeStore } from '../store-contracts.js'
import { timingSafeEqualStrings } from '../timing-safe.js'
import type { Clock } from '../types.js'
import { clockOption, countOption } from '../validate.js'

const owner = 'MemoryResumeStore'

/** Options of {@link MemoryResumeStore}. */
export interface MemoryResumeStoreOptions {
  /**
   * How many sessions the store holds. When full, expired sessions are dropped first, then the
   * one saved longest ago (it can no longer be resumed; no hook fires for it).
   * @default 100000
   */
  readonly maxSessions?: number | undefined
  /** Where time comes from. @default Date */
  readonly clock?: Clock | undefined
}

/**
 * The in-process {@link ResumeStore}: sessions by id, frozen copies. A session can only be resumed
 * on the instance that saved it; share a Redis or SQL store for resumption across instances.
 */
export class MemoryResumeStore implements ResumeStore {
  readonly #max: number
  readonly #clock: Clock
  /** By id, least recently saved first. */
  readonly #sessions = new Map<string, ResumableSession>()

  constructor(options: MemoryResumeStoreOptions = {}) {
    this.#max = countOption(owner, 'maxSessions', options.maxSessions, 100_000)
    this.#clock = clockOption(owner, options.clock)
  }

  async save(session: ResumableSession): Promise<void> {
    const record = validSession('save', session)
    this.#sessions.delete(record.id)
    if (this.#sessions.size >= this.#max) this.#makeRoom()
    this.#sessions.set(record.id, record)
  }

  async update(session: ResumableSession): Promise<boolean> {
    const record = validSession('update', session)
    if (!this.#sessions.has(record.id)) return false
    this.#sessions.set(record.id, record)
    return true
  }

  async claim(id: string, credentialHash: string): Promise<ResumableSession | null> {
    const session = this.#sessions.get(id)
    if (session === undefined || session.expiresAt <= this.#clock.now()) return null
    if (!timingSafeEqualStrings(session.credentialHash, credentialHash)) return null
    this.#sessions.delete(id)
    return session
  }

  async touch(ids: readonly string[], expiresAt: number): Promise<void> {
    for (const id of ids) {
      const session = this.#sessions.get(id)
      if (session !== undefined) this.#sessions.set(id, Object.freeze({ ...session, expiresAt }))
    }
  }

  async remove(id: string): Promise<boolean> {
    return this.#sessions.delete(id)
  }

  async sweep(before: number): Promise<ExpiredSession[]> {
    const now = this.#clock.now()
    const expired: ExpiredSession[] = []
    for (const session of this.#sessions.values()) {
      if (session.expiresAt < before && session.expiresAt <= now) {
        this.#sessions.delete(session.id)
        expired.push({ id: session.id, userId: session.userId, expiresAt: session.expiresAt })
      }
    }
    return expired
  }

  /** Forgets every session. */
  async close(): Promise<void> {
    this.#sessions.clear()
  }

  #makeRoom(): void {
    const now = this.#clock.now()
    for (const session of this.#sessions.values()) {
      if (session.expiresAt <= now) this.#sessions.delete(session.id)
    }
    if (this.#sessions.size >= this.#max) {
      this.#sessions.delete(this.#sessions.keys().next().value as string)
    }
  }
}

/** A frozen copy of a valid session; a `TypeError` naming the field otherwise. */
function validSession(method: string, session: ResumableSession): ResumableSession {
  for (const field of ['id', 'userId', 'credentialHash'] as const) {
    if (typeof session?.[field] !== 'string' || session[field] === '') {
      throw new TypeError(`ws-warden: ${owner}.${method} needs a non-empty string ${field}`)
    }
  }
  if (typeof session.state !== 'string') {
    throw new TypeError(`ws-warden: ${owner}.${method} needs a string state`)
  }
  if (typeof session.expiresAt !== 'number' || !Number.isFinite(session.expiresAt)) {
    throw new TypeError(`ws-warden: ${owner}.${method} needs a finite expiresAt`)
  }
  return Object.freeze({
    id: session.id,
    userId: session.userId,
    credentialHash: session.credentialHash,
    state: session.state,
    expiresAt: session.expiresAt,
  })
}
