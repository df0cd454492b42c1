/**
 * Reserved frames: the frames the core and the client exchange on their own behalf (sessions,
 * token refresh, liveness). Their `type` starts with `$`; the server handles them itself and never
 * dispatches them to an application's handlers, and the client never emits them as messages.
 *
 * @module
 */

/** Every reserved frame type starts with this character. Application types must not. */
export const RESERVED_PREFIX = '$'

/** True for a reserved (`$`-prefixed) message type. */
export function isReservedType(type: string): boolean {
  return type.startsWith(RESERVED_PREFIX)
}

/** The reserved frame types. */
export const FrameType = {
  /** Server → client: the connection's resumable session (after every connect, when resumption is on). */
  Session: '$session',
  /** Server → client: "refresh your token"; client → server: `{ type: '$refresh', token }`. */
  Refresh: '$refresh',
  /** Server → client: a refresh was accepted; the connection now lives until `expiresAt`. */
  Refreshed: '$refreshed',
  /** Client → server: a liveness probe (browsers cannot see protocol pings). */
  Ping: '$ping',
  /** Server → client: the answer to `$ping`. */
  Pong: '$pong',
} as const

/**
 * `$session`, sent first on every connection when resumption is on. `resume` is a single-use
 * credential: present it once, as `ws_resume=<id>.<resume>`, on the next connect within `ttlMs`
 * of losing the connection. Every `$session` carries a new one.
 *
 * After a connect that presented a credential, `resumed` says whether the session was resumed. If
 * it was, `complete` says whether everything missed was replayed (false when history was trimmed
 * or expired, or a channel could not be rejoined), `missed` how many frames were replayed (they
 * follow this frame), and `channels` which channels were restored. If it was not, the connection
 * is a fresh session: channels and data start empty, and nothing is replayed.
 */
export interface SessionFrame {
  readonly type: '$session'
  /**
   * The protocol version negotiated through `Sec-WebSocket-Protocol` for this connection
   * (`1` for `ws-warden.v1`), or `0` when the client offered none. Absent from servers older than
   * the versioned subprotocol, which speak version 1's frames: read it with `?? 0`.
   */
  readonly version?: number
  /** The session id; stable across resumptions. */
  readonly id: string
  /** The single-use resume credential. A secret: never log it. */
  readonly resume: string
  /** How long after the connection is lost the session can still be resumed, in ms. */
  readonly ttlMs: number
  readonly resumed: boolean
  /** Present when `resumed`: nothing missed was lost. */
  readonly complete?: boolean
  /** Present when `resumed`: frames replayed after this one. */
  readonly missed?: number
  /** Present when `resumed`: channels the session is a member of again. */
  readonly channels?: readonly string[]
}

/** `$refresh` from the server: the connection's token expires at `expiresAt` (epoch ms). */
export interface RefreshRequestFrame {
  readonly type: '$refresh'
  readonly expiresAt: number
}

/** `$refresh` from the client: a fresh connect token for the same user. */
export interface RefreshFrame {
  readonly type: '$refresh'
  /** A connect token. A secret: never log it. */
  readonly token: string
}

/** `$refreshed`: the refresh was accepted. */
export interface RefreshedFrame {
  readonly type: '$refreshed'
  /** When the connection must be refreshed again, epoch ms. */
  readonly expiresAt: number
}

/** The field of a fan-out frame that names its stream (`channel:<name>`, `user:<id>`, `all`). */
export const STREAM_FIELD = '$s'
/** The field of a fan-out frame that carries its sequence number in its stream. */
export const SEQ_FIELD = '$q'

/** Where a frame sits in its stream. */
export interface StreamPosition {
  readonly stream: string
  /** A positive integer, increasing along the stream (not necessarily by one). */
  readonly seq: number
}

/**
 * Adds a stream position to a serialized frame, in place of re-serializing it: `text` must be
 * the JSON text of an object with at least one member (every envelope has `type`).
 *
 * @example
 * ```ts
 * withPosition('{"type":"chat"}', 'channel:lobby', 7) // '{"type":"chat","$s":"channel:lobby","$q":7}'
 * ```
 */
export function withPosition(text: string, stream: string, seq: number): string {
  return `${text.slice(0, -1)},"${STREAM_FIELD}":${JSON.stringify(stream)},"${SEQ_FIELD}":${seq}}`
}

/** The stream position a parsed frame carries, or undefined if it carries none (or a bad one). */
export function positionOf(frame: Readonly<Record<string, unknown>>): StreamPosition | undefined {
  const stream = frame[STREAM_FIELD]
  const seq = frame[SEQ_FIELD]
  if (typeof stream !== 'string' || stream === '' || !isSeq(seq)) return undefined
  return { stream, seq }
}

/** A sequence number: a positive safe integer. */
export function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0
}
