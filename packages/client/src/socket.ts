/**
 * The part of the WHATWG `WebSocket` interface the client uses, `listen`, which attaches the
 * client's listeners to a socket, and `closeQuietly`. The browser's global `WebSocket` and `ws`'s `WebSocket` (Node)
 * both fit.
 *
 * @module
 */

/** `readyState` of an open socket. */
export const OPEN = 1

/** The `message` event: text frames arrive as strings. */
export interface SocketMessageEvent {
  readonly data: unknown
}

/** The `close` event. */
export interface SocketCloseEvent {
  readonly code: number
  readonly reason: string
}

/** The events the client listens to, by name. */
export interface SocketEventMap {
  open: unknown
  message: SocketMessageEvent
  close: SocketCloseEvent
  error: unknown
}

/** A WebSocket, as the client sees it. */
export interface WebSocketLike {
  readonly readyState: number
  /** The subprotocol the server selected (`''` for none); read once the socket is open. */
  readonly protocol?: string
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener<K extends keyof SocketEventMap>(
    type: K,
    listener: (event: SocketEventMap[K]) => void,
  ): void
  removeEventListener<K extends keyof SocketEventMap>(
    type: K,
    listener: (event: SocketEventMap[K]) => void,
  ): void
}

/** A WebSocket class: the browser's `WebSocket`, or `ws`'s in Node. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

/** A listener for each event the client listens to. */
export type SocketListeners = { [K in keyof SocketEventMap]: (event: SocketEventMap[K]) => void }

/**
 * Adds `listeners` to `socket`; returns the function that removes them, all but `error`, which
 * stays: `ws` throws an `error` event nobody listens to, and closing a socket that is still
 * connecting emits one. (An `error` is always followed by `close`.)
 */
export function listen(socket: WebSocketLike, listeners: SocketListeners): () => void {
  socket.addEventListener('open', listeners.open)
  socket.addEventListener('message', listeners.message)
  socket.addEventListener('close', listeners.close)
  socket.addEventListener('error', listeners.error)
  return () => {
    socket.removeEventListener('open', listeners.open)
    socket.removeEventListener('message', listeners.message)
    socket.removeEventListener('close', listeners.close)
  }
}

/** Closes `socket` with `args` (none, or a code and reason); a socket that throws is dropped. */
export function closeQuietly(
  socket: WebSocketLike,
  ...args: [code?: number, reason?: string]
): void {
  try {
    socket.close(...args)
  } catch {
    // Already closing, or in a state that cannot close: nothing left to do.
  }
}
