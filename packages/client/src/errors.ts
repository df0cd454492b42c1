/**
 * The client's errors: the `ClientError` base and one class for each way the client fails (token
 * provider, connect, refused refresh, bad frame, full queue, closed client).
 *
 * @module
 */
/** Every error the client reports (through its `error` event or by throwing) is one of these. */
export class ClientError extends Error {
  /** A stable code, for matching without reading messages. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** The send queue was full; `dropped` is the serialized message that was dropped (if any). */
export class QueueFullError extends ClientError {
  readonly dropped: string | undefined

  constructor(max: number, dropped?: string) {
    super('queue_full', `send queue is full (${max} messages)`)
    this.dropped = dropped
  }
}

/** The token provider (or the refresh provider) failed; `cause` is its error. */
export class TokenProviderError extends ClientError {
  constructor(which: 'token' | 'refreshToken', cause: unknown) {
    super('token_provider', `the ${which} provider failed`, { cause })
  }
}

/** An attempt could not even start (the `url` function threw, the WebSocket class refused the URL). */
export class ConnectError extends ClientError {
  constructor(cause: unknown) {
    super('connect_failed', 'could not open a connection', { cause })
  }
}

/** The server refused an in-band token refresh; the connection will end at its expiry. */
export class RefreshRefusedError extends ClientError {
  /** The server's error code (`token_invalid`, `token_replayed`, ...). */
  readonly serverCode: string

  constructor(serverCode: string, message: string) {
    super('refresh_refused', `token refresh refused: ${message}`)
    this.serverCode = serverCode
  }
}

/** A frame from the server was not a JSON object with a string `type`. */
export class BadFrameError extends ClientError {
  constructor() {
    super('bad_frame', 'the server sent a frame that is not a JSON envelope')
  }
}

/** `send` was called after `close()`. */
export class ClientClosedError extends ClientError {
  constructor() {
    super('client_closed', 'the client is closed')
  }
}
