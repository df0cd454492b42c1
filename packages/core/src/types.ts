/**
 * The core's shared types: principals, upgrade requests, admissions, connections, the handler
 * context (and the narrow {@link HandlerWarden} it holds), hooks' payloads, logger and clock.
 *
 * @module
 */
import type { Envelope } from '@ws-warden/protocol'
import type { WardenError } from './errors.js'
import type { SessionStats } from './store-contracts.js'
import type { StandardSchemaV1 } from './schema.js'

/** Who is on the other end of a connection: what a connect token says. */
export interface Principal {
  readonly userId: string
  readonly permissions: readonly string[]
  /** Channels the token names, if the issuer wants to bind a connection to some. */
  readonly channels?: readonly string[]
  /** Any other claims the token carried (never the token itself). */
  readonly claims?: Readonly<Record<string, unknown>>
}

/** Header values as Node's `IncomingMessage` has them. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>

/** The little an adapter tells the core about an HTTP upgrade request. */
export interface UpgradeRequest {
  /** Path and query, as in `IncomingMessage.url` (`/ws?ws_token=...`). */
  readonly url: string
  readonly headers: RequestHeaders
  /** The TCP peer's address (`socket.remoteAddress`). */
  readonly remoteAddress: string | undefined
  /** An already-authenticated user from the framework, if any; counts against per-user limits early. */
  readonly userId?: string | undefined
}

/** Per-endpoint admission settings (a governed route's options). */
export interface EndpointOptions {
  /** Permissions the principal must all hold to connect here (on top of the warden-wide ones). */
  readonly permissions?: readonly string[]
}

/**
 * An admitted request, held between admission and the upgrade. Its session record is already in
 * the store (so caps hold cluster-wide). Call `release()` if the upgrade does not happen; a
 * ticket that is neither attached nor released expires on its own.
 */
export interface Ticket {
  readonly id: string
  readonly principal: Principal
  readonly ip: string
  /** Epoch ms at which the token stops being valid. */
  readonly tokenExpiresAt: number
  release(): void
}

/** The outcome of admission: a ticket, or the error to answer with. Rejections are values. */
export type Admission =
  | { readonly ok: true; readonly ticket: Ticket }
  | { readonly ok: false; readonly error: WardenError }

/** Why a connection ended. */
export type DisconnectCause =
  | 'client' // the peer closed (or the socket dropped)
  | 'server' // closed through `connection.close()` or `warden.disconnectUser()`
  | 'heartbeat' // missed its pong
  | 'slow_consumer' // too many bytes buffered, or a send that never completed
  | 'shutdown' // graceful shutdown
  | 'error' // the socket errored
  | 'expired' // its token expired and was not refreshed (token refresh on)

/** A live connection on this instance. */
export interface Connection<TData = Record<string, unknown>> {
  readonly id: string
  readonly principal: Principal
  readonly userId: string
  readonly ip: string
  readonly connectedAt: number
  readonly channels: ReadonlySet<string>
  /**
   * The resumable session this connection belongs to (resumption on): stable across
   * resumptions, while the connection id is new for every socket. Undefined when resumption is off.
   */
  readonly sessionId: string | undefined
  /**
   * When the connection's token expires, epoch ms. With token refresh on, the connection is closed
   * (4101) unless it refreshes in time; a refresh moves it.
   */
  readonly tokenExpiresAt: number
  /**
   * Per-connection application data, created by the `createData` option. With resumption on it is
   * saved as JSON (keep it JSON-serializable) and restored by a resumption.
   */
  data: TData
  /** True until the connection starts closing. */
  readonly open: boolean
  /**
   * Sends one message. Returns false (and sends nothing) if the connection is closed, or if the
   * send would push it past the buffered-bytes bound, in which case it is closed as a slow
   * consumer. Never blocks.
   */
  send(message: Envelope | string): boolean
  /** Closes with a code and reason; the reason is cut to 123 bytes. */
  close(code?: number, reason?: string): void
}

/** Counts of this instance and of the cluster (through the session store). */
export interface WardenStats {
  readonly instance: SessionStats
  readonly cluster: SessionStats
}

/**
 * What a message handler may do with its warden: channels, fan-out, disconnects and lookups.
 * The `Warden` class implements it; handlers depend on this, not on the class.
 */
export interface HandlerWarden<TData = Record<string, unknown>> {
  readonly instanceId: string
  /** True once shutdown has begun. */
  readonly isClosing: boolean
  /** Adds a connection to a channel, after `authorizeChannel` (rejects with `ForbiddenError`). */
  join(connection: Connection<TData>, channel: string): Promise<void>
  /** Removes a connection from a channel. */
  leave(connection: Connection<TData>, channel: string): Promise<void>
  /** Sends to one connection of this instance. */
  send(connectionId: string, message: Envelope): boolean
  /** Sends to every connection of a user, on every instance; resolves local deliveries. */
  toUser(userId: string, message: Envelope, options?: DeliveryOptions): Promise<number>
  /** Sends to every member of a channel, on every instance; resolves local deliveries. */
  toChannel(channel: string, message: Envelope, options?: DeliveryOptions): Promise<number>
  /** Sends to every connection, on every instance; resolves local deliveries. */
  broadcast(message: Envelope, options?: DeliveryOptions): Promise<number>
  /** Closes every connection of a user, on every instance. */
  disconnectUser(userId: string, code?: number, reason?: string): Promise<void>
  /** A connection of this instance, by id. */
  get(id: string): Connection<TData> | undefined
  /** Every connection of this instance. */
  connections(): IterableIterator<Connection<TData>>
  /** This instance's connections of one user. */
  connectionsOf(userId: string): ReadonlySet<Connection<TData>>
  /** Counts for this instance and, through the session store, for the cluster. */
  stats(): Promise<WardenStats>
}

/** What a message handler receives. */
export interface HandlerContext<TData = Record<string, unknown>, TMessage = Envelope> {
  readonly connection: Connection<TData>
  /** The message: as parsed, or as the handler's `schema` produced it. */
  readonly message: TMessage
  /** The warden, for joining channels and fan-out from a handler. */
  readonly warden: HandlerWarden<TData>
  /** Sends a message back to this connection. */
  reply(message: Envelope): boolean
}

/**
 * A message handler: a function, or an object that also names required permissions and may give
 * a schema: a Standard Schema (Zod, Valibot, ArkType...) that sees the whole message (`type`
 * included) before the handler runs; the handler gets what it produced, and a message it refuses
 * is answered with a `bad_message` error frame listing the issues, the handler never running.
 * Write it with {@link defineHandler} to have `message` typed by the schema.
 */
export type Handler<TData = Record<string, unknown>> =
  | ((context: HandlerContext<TData>) => void | Promise<void>)
  | {
      /** Permissions the principal must all hold to send this message type. */
      readonly permissions?: readonly string[]
      /** Validates each message before `handle` runs. */
      readonly schema?: StandardSchemaV1 | undefined
      handle(context: HandlerContext<TData>): void | Promise<void>
    }

/** Delivery options for fan-out. */
export interface DeliveryOptions {
  /** Connection ids that must not receive the message. */
  readonly except?: readonly string[]
}

/** What `Warden.close()` reports. */
export interface ShutdownReport {
  /** Connections that completed the closing handshake. */
  readonly closed: number
  /** Connections that had to be terminated after the timeout. */
  readonly terminated: number
  /** Errors met while closing (store removals, broker close...). */
  readonly errors: number
  readonly durationMs: number
}

/** A pino-compatible logger. Fastify's `app.log` and `pino()` both fit. */
export interface Logger {
  debug(object: object, message?: string): void
  info(object: object, message?: string): void
  warn(object: object, message?: string): void
  error(object: object, message?: string): void
  child(bindings: Record<string, unknown>): Logger
}

/** Where the core reads the time. Injectable for tests. */
export interface Clock {
  now(): number
}

/** Information about a rejected handshake, for the `onReject` hook. */
export interface RejectInfo {
  readonly error: WardenError
  readonly ip: string
  readonly userId?: string
}

/** What a resumption restored, for the `onResume` hook. */
export interface ResumeInfo {
  /** Nothing missed was lost (history trimmed or expired, a channel refused). */
  readonly complete: boolean
  /** Frames replayed. */
  readonly missed: number
  /** Channels rejoined. */
  readonly channels: readonly string[]
}

/** Information about an ended connection, for the `onDisconnect` hook. */
export interface DisconnectInfo {
  readonly cause: DisconnectCause
  readonly code: number
}
