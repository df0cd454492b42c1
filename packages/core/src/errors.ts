/**
 * The typed errors ws-warden raises: each class carries a `code` from the `ErrorCode` union, the
 * HTTP status of a rejected handshake and the close code used after the upgrade.
 *
 * @module
 */
import type { ErrorCodeValue } from '@ws-warden/protocol'
import { CloseCode, ErrorCode } from '@ws-warden/protocol'

/** Every code ws-warden itself raises (the values of `ErrorCode`). */
export type WardenErrorCode = ErrorCodeValue

/**
 * The code of a {@link MessageError}: one of ws-warden's, or an application's own
 * (`'bad_channel'`). The `string & {}` keeps editor completion for the known ones.
 */
export type MessageErrorCode = ErrorCodeValue | (string & {})

/** Options every {@link WardenError} accepts. */
export interface WardenErrorOptions {
  /** The underlying error, kept for logs; never sent to a client. */
  cause?: unknown
}

/**
 * The base of every error ws-warden raises on purpose. Each subclass carries a stable `code`,
 * the HTTP `status` a rejected handshake answers with, and the `closeCode` used after the
 * upgrade, so adapters and users map errors without matching on messages.
 *
 * `code` is typed like jose's error classes: the base holds the `ErrorCode` union and each
 * subclass narrows it to the codes it raises (`UnauthorizedError` to the four token codes,
 * `ForbiddenError` to `'forbidden'`), so a `switch (error.code)` is checked. Only
 * {@link MessageError}, which application handlers throw, widens it to any string.
 *
 * Messages never contain a token or other secret.
 */
export class WardenError<TCode extends string = WardenErrorCode> extends Error {
  /** Stable, documented code (see `ErrorCode` in `@ws-warden/protocol`). */
  readonly code: TCode
  /** The HTTP status for a handshake rejected with this error. */
  readonly status: number
  /** The WebSocket close code for a connection closed with this error. */
  readonly closeCode: number

  constructor(
    code: TCode,
    message: string,
    status: number,
    closeCode: number,
    options: WardenErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.status = status
    this.closeCode = closeCode
  }
}

/** The codes of a rejected connect token. */
export type TokenErrorCode =
  | typeof ErrorCode.TokenMissing
  | typeof ErrorCode.TokenInvalid
  | typeof ErrorCode.TokenExpired
  | typeof ErrorCode.TokenReplayed

/** Missing, malformed, badly signed, expired or replayed connect token. HTTP 401, close 4101. */
export class UnauthorizedError extends WardenError<TokenErrorCode> {
  constructor(code: TokenErrorCode, message: string, options?: WardenErrorOptions) {
    super(code, message, 401, CloseCode.Unauthorized, options)
  }
}

/** The principal lacks a permission. HTTP 403, close 4003 (terminal). */
export class ForbiddenError extends WardenError<typeof ErrorCode.Forbidden> {
  constructor(message = 'permission denied', options?: WardenErrorOptions) {
    super(ErrorCode.Forbidden, message, 403, CloseCode.Forbidden, options)
  }
}

/** The request's `Origin` is not on the allow-list. HTTP 403, close 1008. */
export class OriginNotAllowedError extends WardenError<typeof ErrorCode.OriginNotAllowed> {
  constructor(options?: WardenErrorOptions) {
    super(ErrorCode.OriginNotAllowed, 'origin not allowed', 403, CloseCode.PolicyViolation, options)
  }
}

/**
 * The client offered only ws-warden subprotocol versions this server does not speak (say
 * `ws-warden.v9` alone): nothing it could talk here. Refused before the token is looked at, so
 * the token stays usable. HTTP 406, close 4006 (terminal).
 */
export class UnsupportedProtocolError extends WardenError<typeof ErrorCode.UnsupportedProtocol> {
  /** What the client offered (ws-warden names only). Client input: kept out of the message. */
  readonly offered: readonly string[]

  constructor(offered: readonly string[], options?: WardenErrorOptions) {
    super(
      ErrorCode.UnsupportedProtocol,
      'unsupported subprotocol',
      406,
      CloseCode.UnsupportedProtocol,
      options,
    )
    this.offered = offered
  }
}

/** Too many attempts or messages. HTTP 429 with `Retry-After`, close 4129. */
export class RateLimitedError extends WardenError<typeof ErrorCode.RateLimited> {
  /** How long to wait before trying again, in milliseconds. */
  readonly retryAfterMs: number

  constructor(retryAfterMs: number, message = 'rate limited', options?: WardenErrorOptions) {
    super(ErrorCode.RateLimited, message, 429, CloseCode.TooManyRequests, options)
    this.retryAfterMs = Math.max(0, Math.ceil(retryAfterMs))
  }
}

/** Which connection cap was reached. */
export type ConnectionLimitKind = 'user' | 'ip' | 'total'

/**
 * A connection cap is reached: per user or per IP (HTTP 429, close 4129), or the total
 * (HTTP 503, close 1013: the server is full).
 */
export class ConnectionLimitError extends WardenError<
  typeof ErrorCode.ServerFull | typeof ErrorCode.ConnectionLimit
> {
  readonly limit: ConnectionLimitKind

  constructor(limit: ConnectionLimitKind, options?: WardenErrorOptions) {
    const total = limit === 'total'
    super(
      total ? ErrorCode.ServerFull : ErrorCode.ConnectionLimit,
      total ? 'server full' : `too many connections for this ${limit}`,
      total ? 503 : 429,
      total ? CloseCode.TryAgainLater : CloseCode.TooManyRequests,
      options,
    )
    this.limit = limit
  }
}

/** The server is shutting down and admits nobody. HTTP 503, close 1012. */
export class ShuttingDownError extends WardenError<typeof ErrorCode.ShuttingDown> {
  constructor(options?: WardenErrorOptions) {
    super(ErrorCode.ShuttingDown, 'shutting down', 503, CloseCode.ServiceRestart, options)
  }
}

/**
 * A store did not answer in time or failed. Admission fails closed: HTTP 503, close 1013.
 * `cause` holds the store's own error.
 */
export class StoreUnavailableError extends WardenError<typeof ErrorCode.StoreUnavailable> {
  /** Which store failed: `sessions`, `tokens`, `rateLimits`, `broker`, ... */
  readonly store: string

  constructor(store: string, message: string, options?: WardenErrorOptions) {
    super(ErrorCode.StoreUnavailable, message, 503, CloseCode.TryAgainLater, options)
    this.store = store
  }
}

/**
 * A message cannot be handled: bad JSON, no `type`, an unknown type, or an application's own
 * validation failure. Answered with an error frame; the connection stays open.
 *
 * The one error whose code may be an application's own: a handler throws
 * `new MessageError('bad_channel', '...')`. Give the type argument to keep a union of your
 * codes checked (`MessageError<'bad_channel' | 'not_joined'>`); without it, `code` is any of
 * ws-warden's codes or any other string.
 */
export class MessageError<TCode extends string = MessageErrorCode> extends WardenError<TCode> {
  constructor(code: TCode, message: string, options?: WardenErrorOptions) {
    super(code, message, 400, CloseCode.Backoff, options)
  }
}

/** True for any error ws-warden raised on purpose. */
export function isWardenError(error: unknown): error is WardenError<MessageErrorCode> {
  return error instanceof WardenError
}
