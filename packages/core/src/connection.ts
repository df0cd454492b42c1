import type { Envelope } from '@ws-warden/protocol'
import { limitCloseReason } from '@ws-warden/protocol'
import type { WebSocket } from 'ws'
import type { Connection, DisconnectCause, Principal } from './types.js'

/** ws's readyState for an open socket. */
const OPEN = 1
/** Text frames even when the payload is a shared Buffer (broadcasts serialize once). */
const TEXT_FRAME = { binary: false } as const

/** What a connection needs from its warden; kept narrow so the connection stays testable. */
export interface ConnectionHost<TData> {
  readonly maxBufferedBytes: number
  readonly sendTimeoutMs: number
  now(): number
  /** Called once, when the connection ends for any reason. */
  ended(connection: LiveConnection<TData>, cause: DisconnectCause, code: number): void
}

/**
 * A live connection: the socket, its principal and the little per-connection state the
 * governance needs (message bucket, heartbeat flag, back-pressure clock). Plain fields, no
 * timers: one heartbeat timer drives every connection.
 */
export class LiveConnection<TData = Record<string, unknown>> implements Connection<TData> {
  readonly id: string
  readonly principal: Principal
  readonly ip: string
  readonly connectedAt: number
  readonly channels = new Set<string>()
  readonly socket: WebSocket
  data: TData

  /** Seconds-worth of messages left in the bucket, and when it was last refilled. */
  bucketTokens: number
  bucketAt: number
  /** A ping is out and no pong (or message) has come back since. */
  awaitingPong = false
  lastSeenAt: number
  /** When buffered bytes were first seen waiting; 0 while the socket keeps up. */
  backloggedSince = 0
  /** Last time an error frame for a dropped message was sent (they are throttled). */
  lastRateErrorAt = 0
  /** Messages waiting while an async handler runs; handlers see messages in order. */
  backlog: (() => Promise<void> | void)[] | undefined
  busy = false

  private state: 'open' | 'closing' | 'ended' = 'open'
  private closeCause: DisconnectCause = 'client'
  private readonly host: ConnectionHost<TData>

  constructor(init: {
    id: string
    principal: Principal
    ip: string
    socket: WebSocket
    data: TData
    host: ConnectionHost<TData>
    burst: number
  }) {
    this.id = init.id
    this.principal = init.principal
    this.ip = init.ip
    this.socket = init.socket
    this.data = init.data
    this.host = init.host
    this.connectedAt = init.host.now()
    this.lastSeenAt = this.connectedAt
    this.bucketTokens = init.burst
    this.bucketAt = this.connectedAt
  }

  get userId(): string {
    return this.principal.userId
  }

  get open(): boolean {
    return this.state === 'open'
  }

  send(message: Envelope | string): boolean {
    return this.sendFrame(typeof message === 'string' ? message : JSON.stringify(message))
  }

  /**
   * Sends an already serialized frame (a string or a Buffer shared by a broadcast). Never blocks:
   * a connection that cannot keep up is cut off instead of buffering without bound.
   */
  sendFrame(frame: string | Buffer): boolean {
    if (this.state !== 'open') return false
    const socket = this.socket
    if (socket.readyState !== OPEN) return false
    const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length
    if (socket.bufferedAmount + size > this.host.maxBufferedBytes) {
      this.cutOff('slow_consumer')
      return false
    }
    socket.send(frame, TEXT_FRAME)
    this.checkBacklog(this.host.now())
    return this.state === 'open'
  }

  /**
   * Tracks how long bytes have waited in the socket's buffer; past the send timeout the peer is a
   * slow consumer. Called on every send and by the heartbeat sweep.
   */
  checkBacklog(now: number): void {
    if (this.socket.bufferedAmount === 0) {
      this.backloggedSince = 0
    } else if (this.backloggedSince === 0) {
      this.backloggedSince = now
    } else if (now - this.backloggedSince >= this.host.sendTimeoutMs) {
      this.cutOff('slow_consumer')
    }
  }

  close(code = 1000, reason = ''): void {
    this.closeWith('server', code, reason)
  }

  /** Starts a closing handshake, remembering why; `ended` runs when the socket closes. */
  closeWith(cause: DisconnectCause, code: number, reason = ''): void {
    if (this.state !== 'open') return
    this.state = 'closing'
    this.closeCause = cause
    try {
      this.socket.close(code, limitCloseReason(reason))
    } catch {
      // The socket was not in a state to send a close frame: drop it.
      this.socket.terminate()
    }
  }

  /**
   * Drops the connection at once, without a closing handshake: for peers that are dead (missed
   * pong) or not reading (slow consumer), whose close frame would never be read anyway.
   */
  cutOff(cause: DisconnectCause): void {
    if (this.state === 'ended') return
    if (this.state === 'open' || cause === 'shutdown') this.closeCause = cause
    this.state = 'closing'
    this.socket.terminate()
  }

  /** Marks a proof of life: a pong or any message. */
  alive(now: number): void {
    this.awaitingPong = false
    this.lastSeenAt = now
  }

  /** The socket closed; runs the one removal path exactly once. */
  socketClosed(code: number): void {
    if (this.state === 'ended') return
    this.state = 'ended'
    this.host.ended(this, this.closeCause, code)
  }
}
