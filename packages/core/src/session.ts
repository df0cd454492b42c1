/**
 * A resumable session's own data: the handle a live connection holds (id, single-use
 * credential, per-stream floors), the state saved of it and its encoding, the credential hash.
 *
 * @module
 */
import type { Positions } from '@ws-warden/protocol'
import { createHash, randomFillSync } from 'node:crypto'
import type { ResumableSession } from './store-contracts.js'
import type { Connection } from './types.js'

/** What the core saves of a session (the `state` of a `ResumableSession`, as JSON). */
export interface SessionState {
  /** The connection id the session had last (fan-out exclusions name connection ids). */
  readonly c: string
  /** Channels joined. */
  readonly ch: readonly string[]
  /** Per stream: the position the session is known to have reached (joined at, or replayed to). */
  readonly f: Readonly<Record<string, number>>
  /** The connection's `data`. */
  readonly d?: unknown
}

/** A session claimed at admission, waiting for its socket. */
export interface ClaimedSession {
  readonly record: ResumableSession
  readonly state: SessionState
  /** The client's last seen positions (only the session's own streams are read). */
  readonly positions: Positions
}

/** A live connection's session. */
export class SessionHandle {
  readonly id: string
  /** A new one for every connection: a credential is single use. */
  readonly credential: string
  readonly credentialHash: string
  /** Per stream: the position the session is known to have reached. */
  readonly floors = new Map<string, number>()
  /** Saved at least once: from then on, changes are written through. */
  ready = false
  /** Saves run one at a time, in order. */
  saving: Promise<void> = Promise.resolve()

  constructor(id: string, userId: string) {
    this.id = id
    this.credential = newCredential()
    this.credentialHash = hashCredential(userId, this.credential)
  }
}

/** A new resume credential: 32 random bytes, base64url. */
export function newCredential(): string {
  // One call for the randomness of 128 credentials, as `randomUUID` pools its own: every
  // connection of a resumable warden makes one.
  if (pooled === CREDENTIALS_PER_FILL) {
    randomFillSync(pool)
    pooled = 0
  }
  const start = pooled++ * CREDENTIAL_BYTES
  const credential = pool.toString('base64url', start, start + CREDENTIAL_BYTES)
  pool.fill(0, start, start + CREDENTIAL_BYTES) // given out: kept nowhere else
  return credential
}

const CREDENTIAL_BYTES = 32
const CREDENTIALS_PER_FILL = 128
const pool = Buffer.alloc(CREDENTIAL_BYTES * CREDENTIALS_PER_FILL)
/** Credentials taken from `pool` since its last fill (full: fill it before the next one). */
let pooled = CREDENTIALS_PER_FILL

/** The hash a store keeps of a credential, bound to its user. */
export function hashCredential(userId: string, credential: string): string {
  return createHash('sha256').update(userId).update('\n').update(credential).digest('base64url')
}

/** The state saved of a connection's session, as JSON. */
export function encodeState<TData>(
  connection: Pick<Connection<TData>, 'id' | 'channels' | 'data'>,
  session: SessionHandle,
): string {
  const state: SessionState = {
    c: connection.id,
    ch: [...connection.channels],
    f: Object.fromEntries(session.floors),
    d: connection.data,
  }
  return JSON.stringify(state)
}

/** Parses a saved state; undefined if it is not one. */
export function decodeState(text: string): SessionState | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const { c, ch, f } = value as Partial<SessionState>
  if (typeof c !== 'string' || !Array.isArray(ch) || typeof f !== 'object' || f === null) {
    return undefined
  }
  if (!ch.every((channel) => typeof channel === 'string')) return undefined
  if (!Object.values(f).every((seq) => typeof seq === 'number')) return undefined
  return value as SessionState
}
