/**
 * The reconnecting client (`WardenClient`): the connection's lifecycle and states, a fresh token
 * per attempt, reserved frames (sessions, resumption, token refresh, liveness), the send queue,
 * and the events it emits.
 */
import type { Envelope, SessionFrame } from '@ws-warden/protocol'
import {
  encodePositions,
  formatResume,
  FrameType,
  isReservedType,
  positionOf,
  POSITIONS_QUERY_PARAM,
  reconnectPolicy,
  RESUME_QUERY_PARAM,
  SUBPROTOCOL,
  subprotocolVersion,
  TOKEN_QUERY_PARAM,
} from '@ws-warden/protocol'
import { backoffDelay } from './backoff.js'
import { Emitter } from './emitter.js'
import {
  BadFrameError,
  ClientClosedError,
  ClientError,
  ConnectError,
  QueueFullError,
  RefreshRefusedError,
  TokenProviderError,
} from './errors.js'
import { Heartbeat } from './heartbeat.js'
import type { ClientOptions, ResolvedOptions } from './options.js'
import { resolveOptions } from './options.js'
import { StreamPositions } from './positions.js'
import { SendQueue } from './queue.js'
import type { SocketCloseEvent, SocketMessageEvent, WebSocketLike } from './socket.js'
import { OPEN } from './socket.js'

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

/** The close code the client reports for a socket that ended without one. */
const ABNORMAL = 1006

/**
 * How Node's `ws` fails a handshake whose answer selected no subprotocol although one was
 * offered (browsers accept such an answer). The client then stops offering `ws-warden.v1`.
 */
const NO_SUBPROTOCOL = 'Server sent no subprotocol'

interface Session {
  readonly id: string
  readonly resume: string
  readonly ttlMs: number
}

/**
 * A reconnecting ws-warden client for browsers and Node.
 *
 * ```ts
 * const client = new WardenClient({
 *   url: 'wss://example.com/ws',
 *   token: async () => (await fetch('/api/ws-token', { method: 'POST' }).then((r) => r.json())).token,
 * })
 * client.on('message', (message) => render(message))
 * client.send({ type: 'join', channel: 'lobby' })
 * ```
 */
export class WardenClient {
  private readonly options: ResolvedOptions
  private readonly emitter: Emitter<ClientEvents>
  private readonly queue: SendQueue
  private readonly positions = new StreamPositions()
  private readonly heartbeat: Heartbeat | undefined
  private currentState: ClientState = 'idle'
  private socket: WebSocketLike | undefined
  private detach: (() => void) | undefined
  /** Identifies the attempt in flight; answers to older attempts are ignored. */
  private attemptId = 0
  /** Consecutive failed attempts (never opened, or not open for `stableAfterMs`). */
  private failures = 0
  private connectTimer: unknown
  private retryTimer: unknown
  private openedAt = 0
  private resuming = false
  private session: Session | undefined
  private lostAt = 0
  private refreshing = false
  /** False once a server answered an offer of `ws-warden.v1` with no subprotocol at all. */
  private offerSubprotocol = true
  private negotiated: number | undefined

  constructor(options: ClientOptions) {
    this.options = resolveOptions(options)
    const { timers } = this.options
    // Like EventTarget: a throwing listener is reported in a task of its own, the others still run.
    this.emitter = new Emitter((error) =>
      timers.setTimeout(() => {
        throw error
      }, 0),
    )
    this.queue = new SendQueue(this.options.queue.max, this.options.queue.overflow)
    if (this.options.heartbeat) {
      this.heartbeat = new Heartbeat(
        this.options.heartbeat,
        timers,
        () => this.socket?.send(JSON.stringify({ type: FrameType.Ping })),
        () => this.lost(ABNORMAL, 'heartbeat timeout'),
      )
    }
    if (this.options.autoConnect) this.connect()
  }

  get state(): ClientState {
    return this.currentState
  }

  /** The current session's id, once the server sent one (resumption on). */
  get sessionId(): string | undefined {
    return this.session?.id
  }

  /**
   * The wire protocol version the last connection negotiated through `Sec-WebSocket-Protocol`:
   * `1` for `ws-warden.v1`, `0` when the server selected none (a server that predates it, or
   * answered with an application's subprotocol). Undefined until a connection opened.
   */
  get protocolVersion(): number | undefined {
    return this.negotiated
  }

  /** Messages waiting in the send queue. */
  get queued(): number {
    return this.queue.size
  }

  /** Adds an event listener; returns a function that removes it. */
  on<K extends keyof ClientEvents>(
    event: K,
    listener: (payload: ClientEvents[K]) => void,
  ): () => void {
    return this.emitter.on(event, listener)
  }

  /** Adds a listener that runs once. */
  once<K extends keyof ClientEvents>(
    event: K,
    listener: (payload: ClientEvents[K]) => void,
  ): () => void {
    return this.emitter.once(event, listener)
  }

  off<K extends keyof ClientEvents>(event: K, listener: (payload: ClientEvents[K]) => void): void {
    this.emitter.off(event, listener)
  }

  /** Starts connecting (only needed with `autoConnect: false`). Throws once closed. */
  connect(): void {
    if (this.currentState === 'closed') throw new ClientClosedError()
    if (this.currentState === 'idle') this.attempt()
  }

  /**
   * Sends a message now if connected, or queues it (see the `queue` option). Returns false if it
   * was dropped (queue full under `'drop-newest'`, queueing off, or the client closed). Throws a
   * `QueueFullError` when the queue is full under `'throw'`, and a `TypeError` for a message
   * without a string `type` or with a reserved (`$`) one.
   */
  send(message: Envelope): boolean {
    const type = (message as Partial<Envelope> | null)?.type
    if (typeof type !== 'string' || type === '') {
      throw new TypeError('ws-warden client: a message needs a string "type"')
    }
    if (isReservedType(type)) {
      throw new TypeError(`ws-warden client: message type ${type} is reserved`)
    }
    if (this.currentState === 'closed') return false
    const text = JSON.stringify(message)
    if (this.currentState === 'open' && this.socket?.readyState === OPEN) {
      this.socket.send(text)
      return true
    }
    const { max, overflow } = this.options.queue
    if (overflow === 'throw' && this.queue.full) throw new QueueFullError(max)
    const result = this.queue.push(text)
    if (result.dropped !== undefined)
      this.emitter.emit('error', new QueueFullError(max, result.dropped))
    return result.queued
  }

  /**
   * Closes the connection and stops for good: no more attempts, the queue is dropped, timers are
   * cleared. Emits `close` with `willRetry: false`. `code` is 1000 or 3000–4999.
   */
  close(code = 1000, reason = ''): void {
    if (code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new TypeError('ws-warden client: close code must be 1000 or 3000-4999')
    }
    if (this.currentState === 'closed') return
    const wasOpen = this.currentState === 'open'
    this.currentState = 'closed'
    this.attemptId++
    this.clearTimers()
    this.queue.clear()
    const socket = this.release()
    if (socket) {
      try {
        socket.close(code, reason)
      } catch {
        // Already closing; nothing left to do.
      }
    }
    this.emitter.emit('close', { code, reason, wasOpen, willRetry: false })
  }

  // --- internal ---

  private attempt(): void {
    const id = ++this.attemptId
    this.currentState = 'connecting'
    const { timers, connectTimeoutMs } = this.options
    this.connectTimer = timers.setTimeout(() => {
      if (id === this.attemptId) this.failed(ABNORMAL, 'connect timeout')
    }, connectTimeoutMs)
    Promise.resolve()
      .then(() => this.options.token())
      .then(
        (token) => {
          if (id === this.attemptId) this.connectWith(token)
        },
        (error: unknown) => {
          if (id !== this.attemptId) return
          this.emitter.emit('error', new TokenProviderError('token', error))
          this.failed(ABNORMAL, 'token provider failed')
        },
      )
  }

  private connectWith(token: unknown): void {
    try {
      if (typeof token !== 'string' || token === '') {
        throw new TokenProviderError(
          'token',
          new TypeError('the token provider must return a non-empty string'),
        )
      }
      this.open(token)
    } catch (error) {
      const failure = error instanceof ClientError ? error : new ConnectError(error)
      this.emitter.emit('error', failure)
      this.failed(
        ABNORMAL,
        failure instanceof TokenProviderError ? 'token provider failed' : 'connect failed',
      )
    }
  }

  private open(token: string): void {
    const now = this.options.timers.now()
    const session = this.session
    const resumable = this.options.resume && session && now - this.lostAt < session.ttlMs
    if (session && !resumable) this.forgetSession()
    const params = [`${TOKEN_QUERY_PARAM}=${encodeURIComponent(token)}`]
    if (resumable) {
      params.push(
        `${RESUME_QUERY_PARAM}=${encodeURIComponent(formatResume(session.id, session.resume))}`,
      )
      if (this.positions.size > 0) {
        params.push(`${POSITIONS_QUERY_PARAM}=${encodePositions(this.positions.toJSON())}`)
      }
    }
    this.resuming = resumable === true
    const base = this.options.url()
    const url = `${base}${base.includes('?') ? '&' : '?'}${params.join('&')}`
    const { WebSocket } = this.options
    const protocols = this.offered()
    const socket = protocols.length === 0 ? new WebSocket(url) : new WebSocket(url, protocols)
    this.watch(socket)
  }

  /** `ws-warden.v1` (unless the server selected none before), then the application's own. */
  private offered(): string[] {
    const own = this.options.protocols.filter((name) => name !== SUBPROTOCOL)
    return this.offerSubprotocol ? [SUBPROTOCOL, ...own] : own
  }

  private watch(socket: WebSocketLike): void {
    const onOpen = (): void => this.opened(socket)
    const onMessage = (event: SocketMessageEvent): void => {
      if (socket === this.socket) this.received(event.data)
    }
    const onClose = (event: SocketCloseEvent): void => {
      if (socket === this.socket) this.lost(event.code, event.reason)
    }
    // Always followed by `close`, which decides what happens next. Never removed: `ws` throws an
    // `error` event nobody listens to, and closing a socket that is still connecting emits one.
    const onError = (event: unknown): void => {
      // `ws` refused a handshake that selected no subprotocol: the next attempt offers none.
      const message = (event as { message?: unknown } | null | undefined)?.message
      if (socket === this.socket && message === NO_SUBPROTOCOL) {
        this.offerSubprotocol = false
      }
    }
    socket.addEventListener('open', onOpen)
    socket.addEventListener('message', onMessage)
    socket.addEventListener('close', onClose)
    socket.addEventListener('error', onError)
    this.socket = socket
    this.detach = () => {
      socket.removeEventListener('open', onOpen)
      socket.removeEventListener('message', onMessage)
      socket.removeEventListener('close', onClose)
    }
  }

  private opened(socket: WebSocketLike): void {
    const { timers } = this.options
    timers.clearTimeout(this.connectTimer)
    this.currentState = 'open'
    this.openedAt = timers.now()
    this.negotiated = subprotocolVersion(socket.protocol)
    this.heartbeat?.start()
    for (const text of this.queue.drain()) socket.send(text)
    this.emitter.emit('open', { attempt: this.failures + 1, resuming: this.resuming })
  }

  private received(data: unknown): void {
    this.heartbeat?.received()
    const frame = parse(data)
    if (frame === undefined) {
      this.emitter.emit('error', new BadFrameError())
      return
    }
    if (isReservedType(frame.type)) {
      this.reserved(frame)
      return
    }
    if (frame.type === 'error' && typeof frame.for === 'string' && isReservedType(frame.for)) {
      // An answer to one of the client's own frames: a refused refresh, or a server that does
      // not know `$ping` (still proof of life).
      if (frame.for === FrameType.Refresh) {
        const code = typeof frame.code === 'string' ? frame.code : 'unknown'
        const message = typeof frame.message === 'string' ? frame.message : code
        this.emitter.emit('error', new RefreshRefusedError(code, message))
      }
      return
    }
    const position = positionOf(frame)
    if (position) this.positions.record(position.stream, position.seq)
    this.emitter.emit('message', frame)
  }

  private reserved(frame: Envelope): void {
    switch (frame.type) {
      case FrameType.Session:
        this.sessionStarted(frame as unknown as SessionFrame)
        return
      case FrameType.Refresh:
        this.refresh()
        return
      case FrameType.Refreshed:
        if (typeof frame.expiresAt === 'number') {
          this.emitter.emit('refreshed', { expiresAt: frame.expiresAt })
        }
        return
      default:
      // `$pong`, and reserved frames of later versions: proof of life, nothing more.
    }
  }

  private sessionStarted(frame: SessionFrame): void {
    if (
      typeof frame.id !== 'string' ||
      typeof frame.resume !== 'string' ||
      typeof frame.ttlMs !== 'number'
    ) {
      this.emitter.emit('error', new BadFrameError())
      return
    }
    this.session = { id: frame.id, resume: frame.resume, ttlMs: frame.ttlMs }
    const resumed = frame.resumed === true
    if (!resumed) {
      this.positions.clear()
      this.emitter.emit('session', {
        id: frame.id,
        resumed,
        complete: true,
        missed: 0,
        channels: [],
      })
      return
    }
    const detail = {
      complete: frame.complete === true,
      missed: typeof frame.missed === 'number' ? frame.missed : 0,
      channels: Array.isArray(frame.channels) ? frame.channels : [],
    }
    this.emitter.emit('session', { id: frame.id, resumed, ...detail })
    this.emitter.emit('resumed', detail)
  }

  /** The server asked for a fresh token: fetch one and send it on the same connection. */
  private refresh(): void {
    if (this.refreshing) return
    this.refreshing = true
    const socket = this.socket
    Promise.resolve()
      .then(() => this.options.refreshToken())
      .then((token) => {
        if (typeof token !== 'string' || token === '') {
          throw new TypeError('the refreshToken provider must return a non-empty string')
        }
        if (socket === this.socket && socket?.readyState === OPEN) {
          socket.send(JSON.stringify({ type: FrameType.Refresh, token }))
        }
      })
      .catch((error: unknown) => {
        this.emitter.emit('error', new TokenProviderError('refreshToken', error))
      })
      .finally(() => {
        this.refreshing = false
      })
  }

  /** The current attempt failed before opening. */
  private failed(code: number, reason: string): void {
    const socket = this.release()
    if (socket) {
      try {
        socket.close()
      } catch {
        // A socket that cannot even be closed is simply dropped.
      }
    }
    this.ended(code, reason, false)
  }

  /** The open connection (or the attempt) ended. */
  private lost(code: number, reason: string): void {
    const wasOpen = this.currentState === 'open'
    const socket = this.release()
    if (wasOpen) {
      this.lostAt = this.options.timers.now()
      // A heartbeat timeout drops the socket without waiting for a close handshake.
      if (socket && socket.readyState === OPEN) {
        try {
          socket.close()
        } catch {
          // Nothing left to do.
        }
      }
    }
    this.ended(code, reason, wasOpen)
  }

  /** Drops the current socket's listeners and timers; returns the socket. */
  private release(): WebSocketLike | undefined {
    const socket = this.socket
    this.detach?.()
    this.detach = undefined
    this.socket = undefined
    this.heartbeat?.stop()
    this.options.timers.clearTimeout(this.connectTimer)
    return socket
  }

  private ended(code: number, reason: string, wasOpen: boolean): void {
    this.attemptId++
    const { timers, backoff, maxAttempts, random } = this.options
    const stable = wasOpen && timers.now() - this.openedAt >= backoff.stableAfterMs
    if (stable) this.failures = 0
    else this.failures++
    const policy = reconnectPolicy(code)
    if (policy === 'stop' || this.failures >= maxAttempts) {
      this.currentState = 'closed'
      this.queue.clear()
      this.emitter.emit('close', { code, reason, wasOpen, willRetry: false })
      return
    }
    const delayMs = backoffDelay(backoff, policy, this.failures, random)
    this.currentState = 'waiting'
    this.emitter.emit('close', { code, reason, wasOpen, willRetry: true })
    if (this.currentState !== 'waiting') return // a listener closed the client
    this.emitter.emit('reconnecting', { attempt: this.failures + 1, delayMs })
    if (this.currentState !== 'waiting') return
    this.retryTimer = timers.setTimeout(() => this.attempt(), delayMs)
  }

  private forgetSession(): void {
    this.session = undefined
    this.positions.clear()
  }

  private clearTimers(): void {
    const { timers } = this.options
    timers.clearTimeout(this.connectTimer)
    timers.clearTimeout(this.retryTimer)
  }
}

function parse(data: unknown): Envelope | undefined {
  if (typeof data !== 'string') return undefined
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const type = (value as { type?: unknown }).type
  return typeof type === 'string' && type !== '' ? (value as Envelope) : undefined
}
