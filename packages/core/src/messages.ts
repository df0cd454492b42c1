/**
 * Inbound messages: size and rate limits, parsing, the handler allow-list and permissions, one
 * handler at a time per connection, and the error frames answering a failure.
 *
 * @module
 */
import type { Envelope, ErrorFrame } from '@ws-warden/protocol'
import { CloseCode, ErrorCode, isReservedType } from '@ws-warden/protocol'
import type { RawData } from 'ws'
import type { LiveConnection } from './connection.js'
import { ForbiddenError, MessageError, WardenError } from './errors.js'
import { takeToken } from './rate-limit.js'
import type { StandardSchemaProps, StandardSchemaResult } from './schema.js'
import { isStandardSchema, reportIssues } from './schema.js'
import type { DropReason } from './observer.js'
import type { Handler, HandlerContext } from './types.js'

/** Messages that may wait behind a running async handler before new ones are dropped. */
export const MAX_BACKLOG = 64
/** At most one "rate_limited" error frame per connection per this many ms. */
const RATE_ERROR_INTERVAL_MS = 1_000

interface ResolvedHandler<TData> {
  readonly permissions: readonly string[]
  readonly handle: (context: HandlerContext<TData>) => void | Promise<void>
  readonly validate: StandardSchemaProps['validate'] | undefined
}

export interface DispatcherOptions<TData> {
  readonly handlers: Readonly<Record<string, Handler<TData>>>
  readonly maxMessageBytes: number
  readonly messagesPerSecond: number
  readonly messageBurst: number
  /** How long a connection's reading is paused when its bucket runs dry; 0 never pauses. */
  readonly readPauseMs: number
  /**
   * Longest a rate-limited connection's reading is paused at a time (under the heartbeat timeout,
   * so that a paused peer's pong is still read in time).
   */
  readonly maxReadPauseMs: number
  readonly now: () => number
  readonly context: (connection: LiveConnection<TData>, message: Envelope) => HandlerContext<TData>
  readonly onMessage?: (connection: LiveConnection<TData>, type: string) => void
  /**
   * Handles a reserved (`$`) frame: the core's own protocol, never dispatched to a handler, never
   * queued behind one.
   */
  readonly reserved: (connection: LiveConnection<TData>, message: Envelope) => void
  readonly onError: (error: unknown, connection: LiveConnection<TData>) => void
  /** A message was dropped by the rate limit or the backlog bound (metrics). */
  readonly dropped?: (reason: DropReason) => void
}

/** Builds the error frame for a failed message. Internal errors never leak their message. */
export function errorFrame(error: unknown, type?: string): ErrorFrame {
  const base =
    error instanceof WardenError
      ? { type: 'error' as const, code: error.code, message: error.message }
      : { type: 'error' as const, code: ErrorCode.Internal, message: 'internal error' }
  return type === undefined ? base : { ...base, for: type }
}

/**
 * The per-message path: size check, the connection's token bucket (no I/O, before parsing),
 * JSON parse, the handler allow-list, the handler's permissions, then the handler. A failure
 * answers with an error frame and leaves the connection open. Handlers of one connection run one
 * at a time, in arrival order.
 *
 * A message the bucket refuses is dropped, and the connection's reading is paused for
 * `readPauseMs` (by default until the bucket is full again): a flooding peer is held back by TCP
 * back-pressure instead of costing the server a read and a drop for every message it sends. Each
 * resume reads what the socket buffered (tens of KiB) in one go; pausing for the whole refill
 * rather than for one token makes that happen once per refill instead of once per token, so the
 * flooder's neighbours see those reads rarely.
 */
export class MessageDispatcher<TData> {
  private readonly handlers = new Map<string, ResolvedHandler<TData>>()

  constructor(private readonly options: DispatcherOptions<TData>) {
    for (const [type, handler] of Object.entries(options.handlers)) {
      if (isReservedType(type)) {
        throw new TypeError(
          `ws-warden: option handlers.${type}: types starting with $ are reserved`,
        )
      }
      if (typeof handler === 'function') {
        this.handlers.set(type, { permissions: [], handle: handler, validate: undefined })
      } else if (handler && typeof handler.handle === 'function') {
        const { schema } = handler
        if (schema !== undefined && !isStandardSchema(schema)) {
          throw new TypeError(
            `ws-warden: option handlers.${type}.schema must be a Standard Schema (v1)`,
          )
        }
        this.handlers.set(type, {
          permissions: handler.permissions ?? [],
          handle: handler.handle as ResolvedHandler<TData>['handle'],
          validate: schema?.['~standard'].validate,
        })
      } else {
        throw new TypeError(`ws-warden: option handlers.${type} must be a function or { handle }`)
      }
    }
  }

  /** Entry point for every frame a socket receives. */
  receive(connection: LiveConnection<TData>, data: RawData | Blob, isBinary: boolean): void {
    const now = this.options.now()
    connection.alive(now)
    if (!connection.open) return
    if (byteLength(data) > this.options.maxMessageBytes) {
      connection.closeWith('server', CloseCode.MessageTooBig, ErrorCode.MessageTooBig)
      return
    }
    const { messagesPerSecond, messageBurst, readPauseMs } = this.options
    if (!takeToken(connection, now, messagesPerSecond, messageBurst)) {
      this.rateLimited(connection, now)
      // Frames already read keep coming (and are dropped) meanwhile.
      if (readPauseMs > 0) {
        connection.pauseReading(Math.min(readPauseMs, this.options.maxReadPauseMs))
      }
      return
    }
    if (isBinary) {
      connection.send(
        errorFrame(new MessageError(ErrorCode.BadMessage, 'binary frames are not accepted')),
      )
      return
    }
    // ws 8 hands every text frame over as one Buffer, whatever the socket's binaryType.
    const message = parse((data as Buffer).toString('utf8'))
    if (message instanceof MessageError) {
      connection.send(errorFrame(message))
      return
    }
    if (isReservedType(message.type)) {
      this.options.reserved(connection, message)
      return
    }
    if (connection.busy) {
      const backlog = (connection.backlog ??= [])
      if (backlog.length >= MAX_BACKLOG) {
        this.rateLimited(connection, now, 'backlog_full')
        return
      }
      backlog.push(() => this.dispatch(connection, message))
      return
    }
    void this.dispatch(connection, message)
  }

  private dispatch(connection: LiveConnection<TData>, message: Envelope): Promise<void> | void {
    const handler = this.handlers.get(message.type)
    if (!handler) {
      connection.send(unknownType(message.type))
      return
    }
    const held = connection.principal.permissions
    if (handler.permissions.some((permission) => !held.includes(permission))) {
      connection.send(errorFrame(new ForbiddenError(), message.type))
      return
    }
    this.options.onMessage?.(connection, message.type)
    if (handler.validate === undefined) return this.run(connection, handler, message.type, message)
    let checked: ReturnType<typeof handler.validate>
    try {
      checked = handler.validate(message)
    } catch (error) {
      this.failed(connection, error, message.type)
      return
    }
    if (!(checked instanceof Promise)) return this.validated(connection, handler, message, checked)
    // An async schema holds the connection's queue like an async handler: order is kept.
    connection.busy = true
    return checked.then(
      (result) => {
        const running = this.validated(connection, handler, message, result)
        return running ?? this.next(connection)
      },
      (error: unknown) => {
        this.failed(connection, error, message.type)
        return this.next(connection)
      },
    )
  }

  /** Runs the handler on what the schema produced, or answers with the issues it found. */
  private validated(
    connection: LiveConnection<TData>,
    handler: ResolvedHandler<TData>,
    message: Envelope,
    result: StandardSchemaResult<unknown>,
  ): Promise<void> | void {
    if (result.issues !== undefined) {
      connection.send({
        ...errorFrame(
          new MessageError(ErrorCode.BadMessage, 'message does not match its schema'),
          message.type,
        ),
        issues: reportIssues(result.issues),
      })
      return
    }
    return this.run(connection, handler, message.type, result.value as Envelope)
  }

  /** Runs a handler; `type` is the message's as it arrived (a schema may have changed it). */
  private run(
    connection: LiveConnection<TData>,
    handler: ResolvedHandler<TData>,
    type: string,
    message: Envelope,
  ): Promise<void> | void {
    let result: void | Promise<void>
    try {
      result = handler.handle(this.options.context(connection, message))
    } catch (error) {
      this.failed(connection, error, type)
      return
    }
    if (!(result instanceof Promise)) return
    connection.busy = true
    return result.then(
      () => this.next(connection),
      (error: unknown) => {
        this.failed(connection, error, type)
        return this.next(connection)
      },
    )
  }

  /**
   * Lets a connection's messages through again after the warden held them (`busy` set while its
   * session starts), in the order they arrived.
   */
  resume(connection: LiveConnection<TData>): Promise<void> | void {
    return this.next(connection)
  }

  /**
   * Runs a connection's queued messages in order until one of them starts an async handler (which
   * calls this again when it settles). Sync handlers and rejected messages do not stall the queue.
   */
  private next(connection: LiveConnection<TData>): Promise<void> | void {
    connection.busy = false
    for (;;) {
      const queued = connection.open ? connection.backlog?.shift() : undefined
      if (!queued) return
      const pending = queued()
      if (pending) return pending
    }
  }

  private failed(connection: LiveConnection<TData>, error: unknown, type: string): void {
    if (!(error instanceof WardenError)) this.options.onError(error, connection)
    connection.send(errorFrame(error, type))
  }

  private rateLimited(
    connection: LiveConnection<TData>,
    now: number,
    reason: DropReason = 'rate_limited',
  ): void {
    this.options.dropped?.(reason)
    if (now - connection.lastRateErrorAt < RATE_ERROR_INTERVAL_MS) return
    connection.lastRateErrorAt = now
    connection.send({ type: 'error', code: ErrorCode.RateLimited, message: 'too many messages' })
  }
}

/** The error frame for a message type nobody handles. */
export function unknownType(type: string): ErrorFrame {
  return errorFrame(new MessageError(ErrorCode.UnknownType, 'unknown message type'), type)
}

/** A frame's size for every `binaryType`: Buffer, ArrayBuffer, Buffer[] (fragments) or Blob. */
function byteLength(data: RawData | Blob): number {
  if (Array.isArray(data)) return data.reduce((sum, chunk) => sum + chunk.length, 0)
  return data instanceof Blob ? data.size : data.byteLength
}

function parse(text: string): Envelope | MessageError {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return new MessageError(ErrorCode.BadJson, 'message is not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return new MessageError(ErrorCode.BadMessage, 'message must be a JSON object')
  }
  const type = (value as { type?: unknown }).type
  if (typeof type !== 'string' || type === '') {
    return new MessageError(ErrorCode.BadMessage, 'message needs a string "type"')
  }
  return value as Envelope
}
