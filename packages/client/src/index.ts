/**
 * `@ws-warden/client`: a reconnecting client for ws-warden servers, for browsers (the global
 * `WebSocket`) and Node (`ws`). Fresh connect token per attempt, capped full-jitter backoff that
 * honours the server's close codes, dead-server detection, a bounded send queue, transparent
 * session resumption and in-band token refresh.
 *
 * @packageDocumentation
 */
export { WardenClient } from './client.js'
export type {
  ClientEvents,
  ClientState,
  CloseEvent,
  OpenEvent,
  ReconnectingEvent,
  RefreshedEvent,
  ResumedEvent,
  SessionEvent,
} from './events.js'
export type { ClientOptions, TokenProvider } from './options.js'
export type { BackoffOptions } from './backoff.js'
export { backoffDelay } from './backoff.js'
export type { HeartbeatOptions } from './heartbeat.js'
export type { OverflowPolicy, QueueOptions } from './queue.js'
export type {
  SocketCloseEvent,
  SocketEventMap,
  SocketMessageEvent,
  WebSocketConstructor,
  WebSocketLike,
} from './socket.js'
export type { Timers } from './timers.js'
export {
  BadFrameError,
  ClientClosedError,
  ClientError,
  ConnectError,
  QueueFullError,
  RefreshRefusedError,
  TokenProviderError,
} from './errors.js'
export { CloseCode, reconnectPolicy } from '@ws-warden/protocol'
export type { Envelope, ReconnectPolicy } from '@ws-warden/protocol'
