/**
 * The direct write path under `ws`: when `ws` has nothing queued, a frame is written straight to
 * the TCP socket underneath, corked until the tick's synchronous work is done, so that the frames
 * a tick sends to one connection leave in one write. This module reads the `ws` 8 internals and
 * keeps the tick's list of corked sockets.
 *
 * @module
 */
import type { WebSocket } from 'ws'

/** Bytes a connection's batch may hold before it is written out without waiting for the tick. */
export const BATCH_FLUSH_BYTES = 64 * 1024

/** The TCP (or TLS) socket under a `ws` socket. */
export interface RawSocket {
  write(chunk: Buffer): boolean
  cork(): void
  uncork(): void
}

/**
 * The `ws` 8 internals the direct write path reads: the socket underneath, and the sender's state
 * (0: idle, nothing queued behind a compression or a Blob read) and whether a fragmented message
 * is half sent. Anything else (another version, a test double) gets `socket.send`.
 */
interface WsInternals {
  readonly _socket?: RawSocket | null
  readonly _sender?: SenderState | null
}

interface SenderState {
  readonly _state: number
  readonly _firstFragment: boolean
}

/**
 * The raw socket under `socket` if a frame may be written to it directly: the sender is idle
 * and not half way through a fragmented message.
 */
export function idleRawSocket(socket: WebSocket): RawSocket | undefined {
  const internals = socket as unknown as WsInternals
  const sender = internals._sender
  return sender && sender._state === 0 && sender._firstFragment ? internals._socket! : undefined
}

/** The raw socket under a socket that {@link idleRawSocket} gave one for. */
export function rawSocketOf(socket: WebSocket): RawSocket {
  return (socket as unknown as WsInternals)._socket!
}

/** What ends its batch when the tick ends. */
export interface Batched {
  flush(): void
}

/** Connections whose socket is corked until the current tick's synchronous work is done. */
let batched: Batched[] = []

/** Flushes `connection` once the current tick's synchronous work is done. */
export function flushAtTickEnd(connection: Batched): void {
  if (batched.push(connection) === 1) process.nextTick(flushBatches)
}

/** Writes out every batch of the tick: each socket gets its frames in one write. */
function flushBatches(): void {
  const connections = batched
  batched = []
  for (const connection of connections) connection.flush()
}
