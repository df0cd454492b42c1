/**
 * The reconnecting client (`WardenClient`): the connection's lifecycle and states, one attempt
 * after another with a fresh token each, the send queue, and the events it emits. The parts it
 * drives have modules of their own: the handshake's request (`handshake.ts`), the routing of
 * inbound frames (`inbound.ts`), resumption (`resumption.ts`), token refresh (`refresh.ts`),
 * reconnect decisions (`retries.ts`), liveness (`heartbeat.ts`).
 *
 * @module
 */
import type { Envelope } from '@ws-warden/protocol'
import { subprotocolVersion } from '@ws-warden/protocol'
import { Emitter } from './emitter.js'
import {
  ClientClosedError,
  ClientError,
  ConnectError,
  QueueFullError,
  TokenProviderError,
} from './errors.js'
import type { ClientEvents, ClientState } from './events.js'
import { checkMessage, PING_FRAME } from './frames.js'
import { openSocket, selectedNoSubprotocol } from './handshake.js'
import { Heartbeat } from './heartbeat.js'
import { Inbound } from './inbound.js'
import type { ClientOptions, ResolvedOptions } from './options.js'
import { isToken, resolveOptions } from './options.js'
import { SendQueue } from './queue.js'
import { TokenRefresh } from './refresh.js'
import { Resumption } from './resumption.js'
import { Retries } from './retries.js'
import type { WebSocketLike } from './socket.js'
import { closeQuietly, listen, OPEN } from './socket.js'

/** The close code the client reports for a socket that ended without one. */
const ABNORMAL = 1006

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
  private readonly heartbeat: Heartbeat | undefined
  private readonly resumption: Resumption
  private readonly inbound: Inbound
  private readonly retries: Retries
  private currentState: ClientState = 'idle'
  private socket: WebSocketLike | undefined
  private detach: (() => void) | undefined
  /** Identifies the attempt in flight; answers to older attempts are ignored. */
  private attemptId = 0
  private connectTimer: unknown
  private retryTimer: unknown
  private resuming = false
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
    this.resumption = new Resumption(this.options.resume, this.emitter)
    const refresh = new TokenRefresh(this.options, this.emitter, () => this.socket)
    this.inbound = new Inbound(this.emitter, this.resumption, refresh)
    this.retries = new Retries(this.options)
    if (this.options.heartbeat) {
      this.heartbeat = new Heartbeat(
        this.options.heartbeat,
        timers,
        () => this.socket?.send(PING_FRAME),
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
    return this.resumption.id
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
    checkMessage(message)
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
    this.options.timers.clearTimeout(this.connectTimer)
    this.options.timers.clearTimeout(this.retryTimer)
    this.queue.clear()
    const socket = this.release()
    if (socket) closeQuietly(socket, code, reason)
    this.emitter.emit('close', { code, reason, wasOpen, willRetry: false })
  }

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
      if (!isToken(token)) {
        throw new TokenProviderError(
          'token',
          new TypeError('the token provider must return a non-empty string'),
        )
      }
      const resume = this.resumption.params(this.options.timers.now())
      this.resuming = resume !== undefined
      this.watch(openSocket(this.options, token, resume ?? [], this.offerSubprotocol))
    } catch (error) {
      const failure = error instanceof ClientError ? error : new ConnectError(error)
      this.emitter.emit('error', failure)
      this.failed(
        ABNORMAL,
        failure instanceof TokenProviderError ? 'token provider failed' : 'connect failed',
      )
    }
  }

  private watch(socket: WebSocketLike): void {
    this.detach = listen(socket, {
      open: () => this.opened(socket),
      message: (event) => {
        if (socket === this.socket) {
          this.heartbeat?.received()
          this.inbound.received(event.data)
        }
      },
      close: (event) => {
        if (socket === this.socket) this.lost(event.code, event.reason)
      },
      // `ws` refused a handshake that selected no subprotocol: the next attempt offers none.
      error: (event) => {
        if (socket === this.socket && selectedNoSubprotocol(event)) this.offerSubprotocol = false
      },
    })
    this.socket = socket
  }

  private opened(socket: WebSocketLike): void {
    this.options.timers.clearTimeout(this.connectTimer)
    this.currentState = 'open'
    this.retries.opened()
    this.negotiated = subprotocolVersion(socket.protocol)
    this.heartbeat?.start()
    for (const text of this.queue.drain()) socket.send(text)
    this.emitter.emit('open', { attempt: this.retries.attempt, resuming: this.resuming })
  }

  /** The current attempt failed before opening. */
  private failed(code: number, reason: string): void {
    const socket = this.release()
    if (socket) closeQuietly(socket)
    this.ended(code, reason, false)
  }

  /** The open connection (or the attempt) ended. */
  private lost(code: number, reason: string): void {
    const wasOpen = this.currentState === 'open'
    const socket = this.release()
    if (wasOpen) {
      this.resumption.lost(this.options.timers.now())
      // A heartbeat timeout drops the socket without waiting for a close handshake.
      if (socket && socket.readyState === OPEN) closeQuietly(socket)
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
    const delayMs = this.retries.ended(code, wasOpen)
    if (delayMs === undefined) {
      this.currentState = 'closed'
      this.queue.clear()
      this.emitter.emit('close', { code, reason, wasOpen, willRetry: false })
      return
    }
    this.currentState = 'waiting'
    this.emitter.emit('close', { code, reason, wasOpen, willRetry: true })
    if (this.currentState !== 'waiting') return // a listener closed the client
    this.emitter.emit('reconnecting', { attempt: this.retries.attempt, delayMs })
    if (this.currentState !== 'waiting') return
    this.retryTimer = this.options.timers.setTimeout(() => this.attempt(), delayMs)
  }
}
