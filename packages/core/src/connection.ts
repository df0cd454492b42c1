import type { Envelope } from '@ws-warden/protocol'
import { limitCloseReason } from '@ws-warden/protocol'
import type { WebSocket } from 'ws'
import type { SessionHandle } from './resumption.js'
import type { Connection, DisconnectCause, Principal, UpgradeRequest } from './types.js'

/** ws's readyState for an open socket. */
const OPEN = 1
/** Text frames even when the payload is a shared Buffer (broadcasts serialize once). */
const TEXT_FRAME = { binary: false } as const
/** Frames a connection may hold while its session starts; past it, it is a slow consumer. */
export const MAX_HELD_FRAMES = 4096

/** A frame held back while a session starts, with its stream position if it has one. */
interface HeldFrame {
  readonly frame: string | Buffer
  readonly stream: string | undefined
  readonly seq: number | undefined
}

/** What a connection needs from its warden; kept narrow so the connection stays testable. */
export interface ConnectionHost<TData> {
  readonly maxBufferedBytes: number
  readonly sendTimeoutMs: number
  now(): number
  /** Called after each frame handed to the socket, with its size (metrics). */
  sent?(bytes: number): void
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
  /** Replaced by a token refresh (permissions re-evaluated). */
  principal: Principal
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
  /** The resumable session (resumption on). */
  session: SessionHandle | undefined
  tokenExpiresAt: number
  /** When to ask for a token refresh (refresh on); Infinity when never. */
  refreshAt = Infinity
  refreshRequested = false
  /** The upgrade request, kept for `onAdmit` at a token refresh (refresh on). */
  request: UpgradeRequest | undefined
  /** Permissions the connection's endpoint requires, re-checked at a token refresh. */
  endpointPermissions: readonly string[] = []
  /** Frames held back while the session starts (`$session` and the replay go first). */
  private held: HeldFrame[] | undefined

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
    tokenExpiresAt?: number
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
    this.tokenExpiresAt = init.tokenExpiresAt ?? Infinity
  }

  get sessionId(): string | undefined {
    return this.session?.id
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
   * a connection that cannot keep up is cut off instead of buffering without bound. A fan-out
   * frame comes with its stream position, so that a frame held while the session starts can be
   * recognized as already replayed.
   */
  sendFrame(frame: string | Buffer, stream?: string, seq?: number): boolean {
    if (this.state !== 'open') return false
    if (this.held) {
      if (this.held.length >= MAX_HELD_FRAMES) {
        this.cutOff('slow_consumer')
        return false
      }
      this.held.push({ frame, stream, seq })
      return true
    }
    const socket = this.socket
    if (socket.readyState !== OPEN) return false
    const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length
    if (socket.bufferedAmount + size > this.host.maxBufferedBytes) {
      this.cutOff('slow_consumer')
      return false
    }
    socket.send(frame, TEXT_FRAME)
    this.host.sent?.(size)
    this.checkBacklog(this.host.now())
    return this.state === 'open'
  }

  /** Holds every frame back until {@link release}: the session's first frames go first. */
  hold(): void {
    this.held ??= []
  }

  /**
   * After {@link hold}: sends `first`, then the frames held meanwhile, except those a stream
   * position shows were already sent (at or below the stream's position in `floors`).
   */
  release(first: readonly string[], floors: ReadonlyMap<string, number>): void {
    const held = this.held!
    this.held = undefined
    for (const frame of first) this.sendFrame(frame)
    for (const { frame, stream, seq } of held) {
      // A seq always comes with its stream. A stream without a floor gives NaN: never skipped.
      if (seq !== undefined && seq <= Number(floors.get(stream as string))) continue
      this.sendFrame(frame)
    }
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
