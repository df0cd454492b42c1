/**
 * A connection's life in a warden: `attach` turns an admitted socket into a registered live
 * connection (its session held until it has started), the host gives each connection its send
 * bounds and reports back, and `ended` is the one removal path, for every way a connection ends.
 *
 * @module
 */
import { CloseCode, streamOf } from '@ws-warden/protocol'
import type { RawData, WebSocket } from 'ws'
import type { PendingTicket } from '../admission.js'
import type { ConnectionHost } from '../connection.js'
import { LiveConnection } from '../connection.js'
import { ShuttingDownError } from '../errors.js'
import type { TokenRefresh } from '../refresh.js'
import type { TopicSubscriptions } from '../topics.js'
import type { Connection, DisconnectCause, Principal } from '../types.js'
import type { WardenRuntime } from './runtime.js'
import type { ResumptionWiring } from './sessions.js'

export interface ConnectionDeps<TData> {
  readonly createData: ((principal: Principal) => TData) | undefined
  readonly topics: TopicSubscriptions | undefined
  readonly refresher: TokenRefresh | undefined
  readonly sessions: ResumptionWiring<TData> | undefined
  /** Every inbound message of a connection. */
  readonly received: (connection: LiveConnection<TData>, data: RawData, isBinary: boolean) => void
}

/** Attaches and ends the connections of one warden. */
export class Connections<TData> {
  readonly #runtime: WardenRuntime<TData>
  readonly #deps: ConnectionDeps<TData>
  readonly #host: ConnectionHost<TData>

  constructor(runtime: WardenRuntime<TData>, deps: ConnectionDeps<TData>) {
    this.#runtime = runtime
    this.#deps = deps
    const { send } = runtime.options
    this.#host = {
      maxBufferedBytes: send.maxBufferedBytes,
      sendTimeoutMs: send.timeoutMs,
      now: () => runtime.now(),
      ended: (connection, cause, code) => this.ended(connection, cause, code),
      sent: (bytes) => {
        if (runtime.observers.size === 0) return
        for (const observer of runtime.observers) observer.sent?.(bytes)
      },
      dropped: () => {
        for (const observer of runtime.observers) observer.dropped?.('slow_consumer')
      },
      received: (connection, data, isBinary) => {
        if (runtime.observers.size > 0) {
          const bytes = (data as Buffer).length
          for (const observer of runtime.observers) observer.received?.(bytes)
        }
        deps.received(connection, data, isBinary)
      },
      socketError: (connection, error) => {
        runtime.logger.debug({
          event: 'socket_error',
          connectionId: connection.id,
          err: error.message,
        })
      },
    }
  }

  /**
   * Takes over an upgraded socket admitted with a ticket (`pending`, undefined when the ticket
   * expired or was used). Returns undefined, and closes the socket, without a ticket or once
   * shutdown has begun.
   */
  attach(socket: WebSocket, pending: PendingTicket | undefined): Connection<TData> | undefined {
    const runtime = this.#runtime
    const { refresher, sessions, topics } = this.#deps
    if (!pending || runtime.closing) {
      const error = runtime.closing ? new ShuttingDownError() : undefined
      socket.close(error?.closeCode ?? CloseCode.Unauthorized, error?.code ?? 'ticket_expired')
      if (pending) {
        runtime.removeSession(pending.id)
      }
      if (pending?.resumed) runtime.background(sessions!.resumption.unclaim(pending.resumed))
      return undefined
    }
    const claimed = pending.resumed
    const restored = claimed && 'd' in claimed.state
    const { createData } = this.#deps
    const connection = new LiveConnection<TData>({
      id: pending.id,
      principal: pending.principal,
      ip: pending.ip,
      socket,
      ...(restored
        ? { data: claimed.state.d as TData }
        : createData && { data: createData(pending.principal) }),
      host: this.#host,
      burst: runtime.options.limits.messageBurst,
      tokenExpiresAt: pending.tokenExpiresAt,
    })
    if (refresher) {
      connection.endpointPermissions = pending.endpointPermissions
      if (runtime.hooks.onAdmit) connection.request = pending.request
      refresher.extend(connection, pending.tokenExpiresAt)
    }
    if (sessions) {
      // Nothing goes out before `$session` (and the replay), and no message is handled before the
      // session's channels are back: both wait until the session has started.
      connection.session = sessions.resumption.handle(connection, claimed)
      connection.hold()
      connection.busy = true
    }
    connection.listen()
    const firstOfUser = runtime.registry.add(connection)
    if (firstOfUser && topics) runtime.background(topics.acquire(streamOf.user(connection.userId)))
    runtime.logger.info(
      {
        event: 'connect',
        connectionId: connection.id,
        userId: connection.userId,
        connections: runtime.registry.size,
      },
      'connection opened',
    )
    for (const observer of runtime.observers) observer.connected?.()
    runtime.safely(() => runtime.hooks.onConnect?.(connection))
    if (sessions) sessions.start(connection, claimed)
    return connection
  }

  /** The one removal path, for every way a connection ends. */
  ended(connection: LiveConnection<TData>, cause: DisconnectCause, socketCode: number): void {
    const runtime = this.#runtime
    const { sessions, topics } = this.#deps
    const { lastOfUser, emptiedChannels } = runtime.registry.remove(connection)
    runtime.removeSession(connection.id)
    if (connection.session) sessions!.ended(connection, cause, socketCode)
    if (topics) {
      if (lastOfUser) runtime.background(topics.release(streamOf.user(connection.userId)))
      for (const channel of emptiedChannels) {
        runtime.background(topics.release(streamOf.channel(channel)))
      }
    }
    const code = cause === 'heartbeat' ? CloseCode.HeartbeatTimeout : socketCode
    runtime.logger.info(
      {
        event: 'disconnect',
        connectionId: connection.id,
        userId: connection.userId,
        cause,
        code,
        connections: runtime.registry.size,
      },
      'connection closed',
    )
    for (const observer of runtime.observers) observer.disconnected?.(cause)
    runtime.safely(() => runtime.hooks.onDisconnect?.(connection, { cause, code }))
  }
}
