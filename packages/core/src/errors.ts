import { CloseCode, ErrorCode } from '@ws-warden/protocol'

/** Options every {@link WardenError} accepts. */
export interface WardenErrorOptions {
  /** The underlying error, kept for logs; never sent to a client. */
  cause?: unknown
}

/**
 * The base of every error ws-warden raises on purpose. Each subclass carries a stable string
 * `code`, the HTTP `status` a rejected handshake answers with, and the `closeCode` used after
 * the upgrade, so adapters and users map errors without matching on messages.
 *
 * Messages never contain a token or other secret.
 */
export class WardenError extends Error {
  /** Stable, documented string code (see `ErrorCode` in `@ws-warden/protocol`). */
  readonly code: string
  /** The HTTP status for a handshake rejected with this error. */
  readonly status: number
  /** The WebSocket close code for a connection closed with this error. */
  readonly closeCode: number

  constructor(
    code: string,
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

/** Missing, malformed, badly signed, expired or replayed connect token. HTTP 401, close 4101. */
export class UnauthorizedError extends WardenError {
  constructor(
    code:
      | typeof ErrorCode.TokenMissing
      | typeof ErrorCode.TokenInvalid
      | typeof ErrorCode.TokenExpired
      | typeof ErrorCode.TokenReplayed,
    message: string,
    options?: WardenErrorOptions,
  ) {
    super(code, message, 401, CloseCode.Unauthorized, options)
  }
}

/** The principal lacks a permission. HTTP 403, close 4003 (terminal). */
export class ForbiddenError extends WardenError {
  constructor(message = 'permission denied', options?: WardenErrorOptions) {
    super(ErrorCode.Forbidden, message, 403, CloseCode.Forbidden, options)
  }
}

/** The request's `Origin` is not on the allow-list. HTTP 403, close 1008. */
export class OriginNotAllowedError extends WardenError {
  constructor(options?: WardenErrorOptions) {
    super(ErrorCode.OriginNotAllowed, 'origin not allowed', 403, CloseCode.PolicyViolation, options)
  }
}

/** Too many attempts or messages. HTTP 429 with `Retry-After`, close 4129. */
export class RateLimitedError extends WardenError {
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
export class ConnectionLimitError extends WardenError {
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
export class ShuttingDownError extends WardenError {
  constructor(options?: WardenErrorOptions) {
    super(ErrorCode.ShuttingDown, 'shutting down', 503, CloseCode.ServiceRestart, options)
  }
}

/**
 * A store did not answer in time or failed. Admission fails closed: HTTP 503, close 1013.
 * `cause` holds the store's own error.
 */
export class StoreUnavailableError extends WardenError {
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
 */
export class MessageError extends WardenError {
  constructor(code: string, message: string, options?: WardenErrorOptions) {
    super(code, message, 400, CloseCode.Backoff, options)
  }
}

/** True for any error ws-warden raised on purpose. */
export function isWardenError(error: unknown): error is WardenError {
  return error instanceof WardenError
}
