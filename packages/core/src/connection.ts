/**
 * A live connection: its socket's listeners, sends bounded by buffered bytes and time, frames held
 * while its session starts, closing and cutting off, and the one `ended` call to its host.
 *
 * @module
 */
import type { Envelope } from '@ws-warden/protocol'
import { limitCloseReason } from '@ws-warden/protocol'
import type { RawData, WebSocket } from 'ws'
import { TextFrame } from './frame.js'
import type { RawSocket } from './tick-batch.js'
import { BATCH_FLUSH_BYTES, flushAtTickEnd, idleRawSocket, rawSocketOf } from './tick-batch.js'
import type { SessionHandle } from './session.js'
import type { Connection, DisconnectCause, Principal, UpgradeRequest } from './types.js'

/** ws's readyState for an open socket. */
const OPEN = 1
/** Text frames even when the payload is a Buffer (the fallback path sends the payload). */
const TEXT_FRAME = { binary: false } as const
/** Frames a connection may hold while its session starts; past it, it is a slow consumer. */
export const MAX_HELD_FRAMES = 4096
export { BATCH_FLUSH_BYTES } from './tick-batch.js'

/** A frame held back while a session starts, with its stream position if it has one. */
interface HeldFrame {
  readonly frame: TextFrame
  readonly stream: string | undefined
  readonly seq: number | undefined
}

/** The channels of a connection that has joined none. */
const NO_CHANNELS: ReadonlySet<string> = new Set()
/** The permissions of an endpoint that requires none. */
const NO_PERMISSIONS: readonly string[] = Object.freeze([])
/** The socket's property naming its connection, for the listeners every socket shares. */
const CONNECTION = Symbol('ws-warden.connection')

interface TaggedSocket {
  [CONNECTION]: LiveConnection<unknown>
}

/** The listeners every socket shares (`this` is the socket). */
function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const connection = (this as unknown as TaggedSocket)[CONNECTION]
  connection.host.received(connection, data, isBinary)
}

function onPong(this: WebSocket): void {
  const connection = (this as unknown as TaggedSocket)[CONNECTION]
  connection.alive(connection.host.now())
}

function onClose(this: WebSocket, code: number): void {
  ;(this as unknown as TaggedSocket)[CONNECTION].socketClosed(code)
}

function onError(this: WebSocket, error: Error): void {
  const connection = (this as unknown as TaggedSocket)[CONNECTION]
  connection.host.socketError(connection, error)
  connection.cutOff('error')
}

/** What a connection needs from its warden; kept narrow so the connection stays testable. */
export interface ConnectionHost<TData> {
  readonly maxBufferedBytes: number
  readonly sendTimeoutMs: number
  now(): number
  /** Called after each frame handed to the socket, with its size (metrics). */
  sent?(bytes: number): void
  /** Called for a frame refused because the connection cannot keep up (metrics). */
  dropped?(): void
  /** Called once, when the connection ends for any reason. */
  ended(connection: LiveConnection<TData>, cause: DisconnectCause, code: number): void
  /** A frame came in. */
  received(connection: LiveConnection<TData>, data: RawData, isBinary: boolean): void
  /** The socket errored (the connection is cut off right after). */
  socketError(connection: LiveConnection<TData>, error: Error): void
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
  readonly socket: WebSocket

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
  endpointPermissions: readonly string[] = NO_PERMISSIONS
  /** The application's data; undefined until first read when the warden has no `createData`. */
  private ownData: TData | undefined
  /** Channels joined; created at the first join (most connections never join one). */
  private joined: Set<string> | undefined
  /** Frames held back while the session starts (`$session` and the replay go first). */
  private held: HeldFrame[] | undefined
  /** Resumes reading once the message bucket has refilled (set while reading is paused). */
  private readTimer: NodeJS.Timeout | undefined
  /** The socket is corked until the tick ends, holding `batchedBytes` written in this tick. */
  private batching = false
  private batchedBytes = 0

  private state: 'open' | 'closing' | 'ended' = 'open'
  private closeCause: DisconnectCause = 'client'
  readonly host: ConnectionHost<TData>

  constructor(init: {
    id: string
    principal: Principal
    ip: string
    socket: WebSocket
    /** Absent: an empty object, made when first read. */
    data?: TData
    host: ConnectionHost<TData>
    burst: number
    tokenExpiresAt?: number
  }) {
    this.id = init.id
    this.principal = init.principal
    this.ip = init.ip
    this.socket = init.socket
    this.ownData = init.data
    this.host = init.host
    this.connectedAt = init.host.now()
    this.lastSeenAt = this.connectedAt
    this.bucketTokens = init.burst
    this.bucketAt = this.connectedAt
    this.tokenExpiresAt = init.tokenExpiresAt ?? Infinity
  }

  get data(): TData {
    return (this.ownData ??= {} as TData)
  }

  set data(data: TData) {
    this.ownData = data
  }

  /**
   * Starts listening to the socket. The listeners are shared by every socket (they find the
   * connection on it): four closures per connection would cost more than the tag.
   */
  listen(): void {
    const socket = this.socket
    ;(socket as unknown as TaggedSocket)[CONNECTION] = this as LiveConnection<unknown>
    socket.on('message', onMessage)
    socket.on('pong', onPong)
    socket.on('close', onClose)
    socket.on('error', onError)
  }

  get channels(): ReadonlySet<string> {
    return this.joined ?? NO_CHANNELS
  }

  /** Records a channel joined; false if it already was. */
  addChannel(channel: string): boolean {
    const joined = (this.joined ??= new Set())
    if (joined.has(channel)) return false
    joined.add(channel)
    return true
  }

  /** Forgets a channel; false if it was not joined. */
  removeChannel(channel: string): boolean {
    return this.joined?.delete(channel) ?? false
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
    return this.sendFrame(
      TextFrame.of(typeof message === 'string' ? message : JSON.stringify(message)),
    )
  }

  /**
   * Sends a frame built once (a fan-out shares it between its recipients). Never blocks: a
   * connection that cannot keep up is cut off instead of buffering without bound. A fan-out frame
   * comes with its stream position, so that a frame held while the session starts can be
   * recognized as already replayed.
   *
   * When `ws` has nothing queued, the frame is written straight to the socket underneath, which
   * stays corked until the tick's synchronous work is done: the frames a tick sends to one
   * connection (a burst of broadcasts) leave in one write instead of one write each.
   */
  sendFrame(frame: TextFrame, stream?: string, seq?: number): boolean {
    if (this.state !== 'open') return false
    if (this.held) {
      if (this.held.length >= MAX_HELD_FRAMES) {
        this.host.dropped?.()
        this.cutOff('slow_consumer')
        return false
      }
      this.held.push({ frame, stream, seq })
      return true
    }
    const socket = this.socket
    if (socket.readyState !== OPEN) return false
    const size = frame.size
    if (socket.bufferedAmount + size > this.host.maxBufferedBytes) {
      this.host.dropped?.()
      this.cutOff('slow_consumer')
      return false
    }
    const raw = idleRawSocket(socket)
    if (raw) {
      this.batch(raw, frame.wire)
    } else {
      socket.send(frame.payload, TEXT_FRAME)
    }
    this.host.sent?.(size)
    // The clock is read only when there is a backlog to time (or one that just drained).
    if (this.backloggedSince !== 0 || socket.bufferedAmount > this.batchedBytes) {
      this.checkBacklog(this.host.now())
    }
    return this.state === 'open'
  }

  /** Writes into this tick's batch, starting it (cork, flush at the end of the tick) if needed. */
  private batch(raw: RawSocket, wire: Buffer): void {
    if (!this.batching) {
      raw.cork()
      this.batching = true
      flushAtTickEnd(this)
    }
    raw.write(wire)
    this.batchedBytes += wire.length
    if (this.batchedBytes >= BATCH_FLUSH_BYTES) {
      // A large batch goes out now, as unbatched writes would have: the socket's own buffer, not
      // the cork, is what the buffered-bytes bound is about.
      raw.uncork()
      raw.cork()
      this.batchedBytes = 0
    }
  }

  /** Ends this tick's batch: the socket writes what the tick gave it. */
  flush(): void {
    this.batching = false
    this.batchedBytes = 0
    rawSocketOf(this.socket).uncork()
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
    for (const text of first) this.sendFrame(TextFrame.of(text))
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
    // Bytes in this tick's batch are no backlog: they leave when the tick ends.
    if (this.socket.bufferedAmount - this.batchedBytes <= 0) {
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

  /**
   * Stops reading from the socket for `ms`: what the peer sends meanwhile waits in the TCP
   * buffers, and once they are full the peer cannot send any faster than it is read. No-op while
   * already paused.
   */
  pauseReading(ms: number): void {
    if (this.readTimer !== undefined) return
    this.socket.pause()
    this.readTimer = setTimeout(() => {
      this.readTimer = undefined
      this.socket.resume()
    }, ms)
    this.readTimer.unref()
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
    clearTimeout(this.readTimer)
    this.host.ended(this, this.closeCause, code)
  }
}
