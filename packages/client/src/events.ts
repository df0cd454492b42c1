/**
 * The client's states and events: `ClientState`, the payload of each event, and `ClientEvents`,
 * the map from event names to payloads that `on`, `once` and `off` are typed by.
 *
 * @module
 */
import type { Envelope } from '@ws-warden/protocol'
import type { ClientError } from './errors.js'

/**
 * Where the client is:
 * - `idle`: created with `autoConnect: false`, `connect()` not called yet;
 * - `connecting`: fetching a token or waiting for the handshake;
 * - `open`: connected;
 * - `waiting`: disconnected, waiting for the next attempt;
 * - `closed`: stopped for good (by `close()`, a "do not reconnect" close code, or `maxAttempts`).
 */
export type ClientState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed'

/** The `open` event. */
export interface OpenEvent {
  /** Attempts since the last stable connection, this one included (1 for a first success). */
  readonly attempt: number
  /** This connect presented a resume credential: a `session` event will say whether it worked. */
  readonly resuming: boolean
}

/** The `session` event: the server's `$session` frame, after every connect (resumption on). */
export interface SessionEvent {
  readonly id: string
  /** False for a fresh session, including when a resumption was refused or had expired. */
  readonly resumed: boolean
  /** When resumed: nothing missed was lost. Always true for a fresh session. */
  readonly complete: boolean
  /** When resumed: how many missed messages are replayed (they follow as `message` events). */
  readonly missed: number
  /** When resumed: the channels restored. Empty for a fresh session. */
  readonly channels: readonly string[]
}

/** The `resumed` event: a session was resumed. */
export interface ResumedEvent {
  readonly complete: boolean
  readonly missed: number
  readonly channels: readonly string[]
}

/** The `close` event, after every attempt or connection that ends. */
export interface CloseEvent {
  /** The close code (1006 when the socket ended without one, or never opened). */
  readonly code: number
  readonly reason: string
  /** The connection had opened (false for a failed attempt). */
  readonly wasOpen: boolean
  /** Whether the client will try again (a `reconnecting` event follows). */
  readonly willRetry: boolean
}

/** The `reconnecting` event: the next attempt is scheduled. */
export interface ReconnectingEvent {
  /** The number of the next attempt since the last stable connection. */
  readonly attempt: number
  readonly delayMs: number
}

/** The `refreshed` event: the server accepted an in-band token refresh. */
export interface RefreshedEvent {
  readonly expiresAt: number
}

/** Every event the client emits, with its payload. */
export interface ClientEvents {
  open: OpenEvent
  session: SessionEvent
  resumed: ResumedEvent
  /** An application message (never a reserved `$` frame). Fan-out frames keep `$s` and `$q`. */
  message: Envelope
  close: CloseEvent
  reconnecting: ReconnectingEvent
  refreshed: RefreshedEvent
  error: ClientError
}
