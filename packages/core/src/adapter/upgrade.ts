/**
 * Upgrades on a raw Node server: the request shape admission reads, the rejection written to the
 * socket before any WebSocket exists, and the handshake of an admitted request. The building
 * blocks of every adapter.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocketServer } from 'ws'
import type { WardenError } from '../errors.js'
import type { Connection, EndpointOptions, Ticket, UpgradeRequest } from '../types.js'
import type { Warden } from '../warden.js'
import type { ClientAddressSource } from './client-ip.js'
import { rejectionAnswer } from './rejection.js'

/** What an adapter hands admission: the request, and the framework's client IP if it has one. */
export type AdapterUpgradeRequest = UpgradeRequest & Pick<ClientAddressSource, 'frameworkIp'>

/**
 * The core's request shape from a Node `IncomingMessage`. `frameworkIp` is the client IP the
 * framework resolved because it trusts the proxy; leave it out otherwise.
 */
export function toUpgradeRequest(
  request: IncomingMessage,
  userId?: string,
  frameworkIp?: string,
): AdapterUpgradeRequest {
  return {
    url: request.url ?? '/',
    headers: request.headers,
    remoteAddress: request.socket.remoteAddress,
    ...(userId !== undefined && { userId }),
    ...(frameworkIp !== undefined && { frameworkIp }),
  }
}

/**
 * Answers an upgrade request with a plain HTTP error before any WebSocket exists: no 101, no
 * socket state, no timers. The body is `{"error": "<code>"}`.
 */
export function rejectUpgrade(socket: Duplex, error: WardenError): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const answer = rejectionAnswer(error)
  const body = JSON.stringify(answer.body)
  const head = [
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(answer.headers).map(([name, value]) => `${name}: ${value}`),
  ]
  socket.once('finish', () => socket.destroy())
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`)
}

/** Options of {@link handleUpgrade}. */
export interface HandleUpgradeOptions<TData> {
  readonly endpoint?: EndpointOptions
  /** An already-authenticated user id from the framework, if any. */
  readonly userId?: string
  /** Called with each attached connection. */
  readonly onConnection?: (connection: Connection<TData>, request: IncomingMessage) => void
}

/**
 * Governs one HTTP upgrade on a `noServer` ws server: admission first (rejections are HTTP
 * responses), then the WebSocket handshake and `warden.attach`. The building block of the
 * Node, Express and Koa integrations.
 */
export async function handleUpgrade<TData>(
  warden: Warden<TData>,
  wss: WebSocketServer,
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: HandleUpgradeOptions<TData> = {},
): Promise<Connection<TData> | undefined> {
  // Awaited only if the warden could not answer in this tick (see `admitNow`); otherwise the 101
  // goes out in the turn of the upgrade event, as with a bare ws server.
  const now = warden.admitNow(toUpgradeRequest(request, options.userId), options.endpoint)
  const admission = now instanceof Promise ? await now : now
  if (!admission.ok) {
    rejectUpgrade(socket, admission.error)
    return undefined
  }
  const connection = await acceptUpgrade(warden, wss, admission.ticket, request, socket, head)
  if (connection) options.onConnection?.(connection, request)
  return connection
}

/**
 * Completes the WebSocket handshake of an admitted request and attaches the socket with its
 * ticket. Resolves to undefined (the ticket released) if the socket closed first or `ws` refused
 * the handshake. For integrations that run admission themselves and answer rejections their own
 * way (the Express and Koa adapters route the upgrade through the framework's middleware first).
 */
export function acceptUpgrade<TData>(
  warden: Warden<TData>,
  wss: WebSocketServer,
  ticket: Ticket,
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<Connection<TData> | undefined> {
  if (socket.destroyed) {
    ticket.release()
    return Promise.resolve(undefined)
  }
  // Without an async `verifyClient`, `ws` completes (or refuses) the handshake synchronously: the
  // common case needs no listener. Only a handshake still pending when `handleUpgrade` returns
  // (refused, or verified asynchronously) waits for the socket's close to free the ticket.
  let upgraded = false
  let connection: Connection<TData> | undefined
  let pending: Pending<TData> | undefined
  wss.handleUpgrade(request, socket, head, (ws) => {
    upgraded = true
    connection = warden.attach(ws, ticket)
    if (pending) {
      // Once upgraded, this listener would keep the request (and its URL) alive for the
      // connection's whole life.
      socket.removeListener('close', pending.closedFirst)
      pending.resolve(connection)
    }
  })
  if (upgraded) return Promise.resolve(connection)
  return new Promise((resolve) => {
    const closedFirst = (): void => {
      ticket.release()
      resolve(undefined)
    }
    pending = { resolve, closedFirst }
    socket.once('close', closedFirst)
  })
}

/** A handshake `ws` has not completed by the time `handleUpgrade` returned. */
interface Pending<TData> {
  readonly resolve: (connection: Connection<TData> | undefined) => void
  readonly closedFirst: () => void
}
