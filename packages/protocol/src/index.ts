/**
 * The ws-warden wire protocol: close codes, error codes and message envelopes.
 *
 * This module has no dependencies and touches no Node API, so a browser bundle can import it
 * without pulling in `ws`, `jose` or a store. The server (`@ws-warden/core`) and the client
 * (`@ws-warden/client`) both import it; it is the one place the protocol is written down.
 *
 * ## Frames
 *
 * Every message, in either direction, is a JSON text frame holding an object with a string
 * `type` ({@link Envelope}). Types starting with `$` are reserved ({@link FrameType}): the server
 * handles them itself and never dispatches them to application handlers; the client never emits
 * them as messages.
 *
 * | frame | direction | when |
 * |---|---|---|
 * | `{"type":"$session","version","id","resume","ttlMs","resumed":false}` | server → client | first frame of every connection, when resumption is on |
 * | `{"type":"$session",...,"resumed":true,"complete","missed","channels"}` | server → client | first frame after a resumption; the `missed` replayed frames follow it |
 * | `{"type":"$refresh","expiresAt"}` | server → client | the connection's token expires soon (refresh on) |
 * | `{"type":"$refresh","token"}` | client → server | a fresh connect token for the same user |
 * | `{"type":"$refreshed","expiresAt"}` | server → client | the refresh was accepted |
 * | `{"type":"$ping"}` / `{"type":"$pong"}` | client → server / back | liveness probe |
 * | `{"type":"error","code","message","for"?}` | server → client | a message could not be handled |
 *
 * Fan-out frames (to a channel, a user, or everyone) carry their place in a stream in two extra
 * fields, `"$s"` (the stream: `channel:<name>`, `user:<id>` or `all`) and `"$q"` (a positive
 * integer that increases along the stream), so that a reconnecting client can say what it saw
 * last ({@link withPosition}, {@link positionOf}, and the query parameters in `resume.ts`).
 *
 * @packageDocumentation
 */

export * from './frames.js'
export * from './resume.js'
export * from './streams.js'
export * from './subprotocol.js'

/**
 * Close codes sent after the upgrade.
 *
 * Application codes follow the Pusher protocol's three ranges, so a client can tell what to do
 * from the number alone:
 *
 * - `4000–4099`: terminal. Do not reconnect.
 * - `4100–4199`: reconnect with backoff (and a fresh connect token).
 * - `4200–4299`: reconnect now (after a small random delay).
 *
 * Inside each range the last two digits echo the HTTP status a rejected handshake would have had
 * (`4003` ↔ 403, `4101` ↔ 401, `4129` ↔ 429). Standard RFC 6455 codes keep their meaning and are
 * classified by {@link reconnectPolicy}.
 */
export const CloseCode = {
  /** RFC 6455: normal closure. */
  Normal: 1000,
  /** RFC 6455: the server is going away (shutting down without a restart). */
  GoingAway: 1001,
  /** RFC 6455: policy violation; used for a disallowed `Origin`. */
  PolicyViolation: 1008,
  /** RFC 6455: a message was larger than the server accepts. */
  MessageTooBig: 1009,
  /** RFC 6455: the server hit an error that left the connection unusable. */
  InternalError: 1011,
  /** IANA: the service is restarting; reconnect shortly. */
  ServiceRestart: 1012,
  /** IANA: try again later (server full, store unreachable). */
  TryAgainLater: 1013,
  /** Terminal: the principal may not use this endpoint. HTTP 403. */
  Forbidden: 4003,
  /**
   * Terminal: the client offered only ws-warden subprotocol versions this server does not speak.
   * HTTP 406; the server refuses before the upgrade, so a client sees the status (or, in a
   * browser, 1006), and this code only in an integration that admits after the upgrade.
   */
  UnsupportedProtocol: 4006,
  /** Backoff: generic "reconnect later"; used for slow consumers. */
  Backoff: 4100,
  /** Backoff: the token was missing, invalid, expired or replayed; fetch a new one. HTTP 401. */
  Unauthorized: 4101,
  /** Backoff: the peer missed its heartbeat (only seen in logs and hooks: the peer sees 1006). */
  HeartbeatTimeout: 4108,
  /** Backoff: too many attempts, messages or connections. HTTP 429. */
  TooManyRequests: 4129,
  /** Now: the server asks the client to reconnect at once (for example to another instance). */
  ReconnectNow: 4200,
} as const

/** One of the {@link CloseCode} values. */
export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode]

/** What a client should do after a close: give up, reconnect after a backoff, or at once. */
export type ReconnectPolicy = 'stop' | 'backoff' | 'now'

/**
 * Classifies a close code into what a client should do next.
 *
 * @example
 * ```ts
 * reconnectPolicy(4003) // 'stop'
 * reconnectPolicy(4129) // 'backoff'
 * reconnectPolicy(1012) // 'now'
 * ```
 */
export function reconnectPolicy(code: number): ReconnectPolicy {
  if (code >= 4000 && code <= 4099) return 'stop'
  if (code >= 4100 && code <= 4199) return 'backoff'
  if (code >= 4200 && code <= 4299) return 'now'
  switch (code) {
    case CloseCode.Normal:
    case CloseCode.PolicyViolation:
      return 'stop'
    case CloseCode.GoingAway:
    case CloseCode.ServiceRestart:
      return 'now'
    default:
      // 1006 (abnormal), 1009, 1011, 1013, other private codes: try again, but not in a loop.
      return 'backoff'
  }
}

/** Stable error codes, used in error frames, typed errors and logs. */
export const ErrorCode = {
  // admission
  TokenMissing: 'token_missing',
  TokenInvalid: 'token_invalid',
  TokenExpired: 'token_expired',
  TokenReplayed: 'token_replayed',
  OriginNotAllowed: 'origin_not_allowed',
  UnsupportedProtocol: 'unsupported_protocol',
  Forbidden: 'forbidden',
  RateLimited: 'rate_limited',
  ConnectionLimit: 'connection_limit',
  ServerFull: 'server_full',
  ShuttingDown: 'shutting_down',
  StoreUnavailable: 'store_unavailable',
  // messages
  BadJson: 'bad_json',
  BadMessage: 'bad_message',
  UnknownType: 'unknown_type',
  MessageTooBig: 'message_too_big',
  Internal: 'internal',
  // connection lifecycle
  SlowConsumer: 'slow_consumer',
  HeartbeatTimeout: 'heartbeat_timeout',
} as const

/** One of the {@link ErrorCode} values (an application's own codes travel in `MessageError`). */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode]

/** Every message in either direction is a JSON object with a string `type`. */
export interface Envelope {
  readonly type: string
  readonly [field: string]: unknown
}

/** The frame the server sends when a message cannot be handled. The connection stays open. */
export interface ErrorFrame extends Envelope {
  readonly type: 'error'
  readonly code: string
  readonly message: string
  /** The `type` of the message that caused it, when known. */
  readonly for?: string
  /** For `bad_message` from a handler's schema: what it found wrong (at most 10). */
  readonly issues?: readonly {
    readonly message: string
    readonly path?: readonly (string | number)[]
  }[]
}

/** Close reasons are limited to 123 bytes by RFC 6455. */
export const MAX_CLOSE_REASON_BYTES = 123

/**
 * Cuts a close reason to at most 123 UTF-8 bytes without splitting a character.
 */
export function limitCloseReason(reason: string): string {
  let bytes = 0
  let out = ''
  for (const char of reason) {
    bytes += utf8Length(char.codePointAt(0) as number)
    if (bytes > MAX_CLOSE_REASON_BYTES) return out
    out += char
  }
  return out
}

function utf8Length(codePoint: number): number {
  if (codePoint < 0x80) return 1
  if (codePoint < 0x800) return 2
  if (codePoint < 0x10000) return 3
  return 4
}

/** The query parameter that carries the connect token. */
export const TOKEN_QUERY_PARAM = 'ws_token'
