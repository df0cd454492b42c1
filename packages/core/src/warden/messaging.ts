/**
 * Inbound messages of a warden: the dispatcher with the warden's limits and hooks, the context a
 * handler receives, and the core's own reserved frames (`$ping`, `$refresh`), which never reach
 * a handler.
 *
 * @module
 */
import type { Envelope } from '@ws-warden/protocol'
import { FrameType } from '@ws-warden/protocol'
import type { LiveConnection } from '../connection.js'
import { MessageDispatcher, unknownType } from '../messages.js'
import type { TokenRefresh } from '../refresh.js'
import type { Handler, HandlerWarden } from '../types.js'
import type { WardenRuntime } from './runtime.js'

/** Builds the message dispatcher of a warden. */
export function createDispatcher<TData>(
  runtime: WardenRuntime<TData>,
  handlers: Readonly<Record<string, Handler<TData>>>,
  refresher: TokenRefresh | undefined,
  warden: HandlerWarden<TData>,
): MessageDispatcher<TData> {
  const { limits, heartbeat } = runtime.options
  const { onMessage } = runtime.hooks
  return new MessageDispatcher<TData>({
    handlers,
    maxMessageBytes: limits.maxMessageBytes,
    messagesPerSecond: limits.messagesPerSecond,
    messageBurst: limits.messageBurst,
    readPauseMs: limits.readPauseMs,
    maxReadPauseMs: heartbeat ? Math.max(1, Math.floor(heartbeat.timeoutMs / 2)) : Infinity,
    now: () => runtime.now(),
    context: (connection, message) => ({
      connection,
      message,
      warden,
      reply: (reply: Envelope) => connection.send(reply),
    }),
    ...(onMessage && { onMessage }),
    onError: (error, connection) => runtime.reportError(error, connection),
    dropped: (reason) => {
      for (const observer of runtime.observers) observer.dropped?.(reason)
    },
    reserved: (connection, message) => reserved(connection, message, refresher),
  })
}

/** The core's own frames (`$ping`, `$refresh`); never dispatched to a handler. */
function reserved<TData>(
  connection: LiveConnection<TData>,
  message: Envelope,
  refresher: TokenRefresh | undefined,
): void {
  if (message.type === FrameType.Ping) {
    connection.send({ type: FrameType.Pong })
  } else if (message.type === FrameType.Refresh && refresher) {
    void refresher.handle(connection, message)
  } else {
    connection.send(unknownType(message.type))
  }
}
