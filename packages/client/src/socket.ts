/**
 * The part of the WHATWG `WebSocket` interface the client uses. The browser's global `WebSocket`
 * and `ws`'s `WebSocket` (Node) both fit.
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
