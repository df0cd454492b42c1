/**
 * Upgrades routed through a framework's middleware (Express, Koa): the server (given, or the one
 * `app.listen()` creates) turns every upgrade into an ordinary request whose response writes to
 * the socket, a governed route admits it and either
 * answers the rejection the framework's way or completes the handshake; a route's handler that
 * throws closes its connection with 1011.
 *
 * @module
 */
import { CloseCode } from '@ws-warden/protocol'
import type { IncomingMessage, Server } from 'node:http'
import { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { WebSocketServer } from 'ws'
import type { WardenError } from '../errors.js'
import type { Connection, EndpointOptions } from '../types.js'
import type { Warden } from '../warden.js'
import { redactToken } from './redact.js'
import type { HttpAnswer } from './rejection.js'
import { rejectionAnswer } from './rejection.js'
import { closeSockets } from './server.js'
import { acceptUpgrade, toUpgradeRequest } from './upgrade.js'

/** An upgrade request on its way through a framework's middleware, with what the handshake needs. */
interface RoutedUpgrade {
  readonly socket: Socket
  readonly head: Buffer
  /** The URL with its connect token; `request.url` has the token cut out. */
  readonly url: string
  readonly response: ServerResponse
}

/** Where a routed request carries its {@link RoutedUpgrade} until a governed route admits it. */
const ROUTED = Symbol('ws-warden.routed')

interface RoutedRequest extends IncomingMessage {
  [ROUTED]?: RoutedUpgrade | undefined
}

/**
 * The listeners every routed upgrade shares (`this` is the socket or the response): one closure
 * per upgrade each would cost more than the lookup.
 */
function destroySocket(this: Socket): void {
  this.destroy()
}

/** Once answered (a rejection, a 404...) the socket closes; an upgraded one is detached first. */
function closeAnswered(this: ServerResponse): void {
  this.socket?.destroySoon()
}

/**
 * What {@link admitRoutedUpgrade} resolves to: the rejection and its HTTP answer, or the
 * connection (undefined if the socket closed first or `ws` refused the handshake).
 */
export type RoutedAdmission<TData> =
  | { readonly ok: false; readonly error: WardenError; readonly answer: HttpAnswer }
  | { readonly ok: true; readonly connection: Connection<TData> | undefined }

/** Options of {@link admitRoutedUpgrade}. */
export interface RoutedAdmitOptions {
  readonly endpoint?: EndpointOptions
  /** An already-authenticated user id from the framework, if any. */
  readonly userId?: string | undefined
  /** The client IP the framework resolved because it trusts the proxy; undefined otherwise. */
  readonly frameworkIp?: string | undefined
}

const governed = new WeakSet<Server>()

/**
 * Sends every HTTP upgrade on `server` through `listener` (an Express app, Koa's
 * `app.callback()`) as an ordinary request whose response writes to the socket. The framework's
 * middleware runs, and may answer with any status, before anything is upgraded; a governed route
 * then calls {@link admitRoutedUpgrade}. The connect token is cut out of `request.url` first, so
 * middleware and access logs never see it. `server.close()` starts `warden.close()` too: open
 * WebSockets would otherwise keep the server from ever closing.
 *
 * @throws Error if the server's upgrades are already routed (one app per server).
 */
export function routeUpgrades<TData>(
  warden: Warden<TData>,
  wss: WebSocketServer,
  server: Server,
  listener: (request: IncomingMessage, response: ServerResponse) => unknown,
): void {
  if (governed.has(server)) throw new Error('ws-warden: this server already routes its upgrades')
  governed.add(server)
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    // Node hands the socket over without an error listener, and the middleware chain is async.
    socket.on('error', destroySocket)
    const response = new ServerResponse(request)
    response.assignSocket(socket)
    response.shouldKeepAlive = false
    response.on('finish', closeAnswered)
    ;(request as RoutedRequest)[ROUTED] = { socket, head, url: request.url ?? '/', response }
    request.url = request.url && redactToken(request.url)
    listener(request, response)
  })
  const close = server.close.bind(server)
  server.close = (callback) => {
    void closeSockets(warden, wss)
    return close(callback)
  }
}

/** An app whose `listen()` creates an HTTP server (Express, Koa). */
export interface Listens {
  listen(...args: never[]): Server
}

/**
 * Routes the upgrades of `server` through `listener` (see `routeUpgrades`), or, without a server,
 * of every server `app.listen()` creates from now on.
 */
export function governServer<TData>(
  warden: Warden<TData>,
  wss: WebSocketServer,
  app: Listens,
  listener: (request: IncomingMessage, response: ServerResponse) => unknown,
  server?: Server,
): void {
  if (server) return routeUpgrades(warden, wss, server, listener)
  const listen = app.listen.bind(app) as (...args: unknown[]) => Server
  app.listen = (...args: never[]) => {
    const created = listen(...args)
    routeUpgrades(warden, wss, created, listener)
    return created
  }
}

/** True for a request that {@link routeUpgrades} is routing and nobody has admitted yet. */
export function isRoutedUpgrade(request: IncomingMessage): boolean {
  return (request as RoutedRequest)[ROUTED] !== undefined
}

/**
 * Admits a routed upgrade request (with its real URL) and, if admitted, completes the handshake
 * and attaches the socket. A rejection is returned with its answer for the framework to write
 * (status, headers, JSON body): nothing has been written yet. Once upgraded, the framework's
 * response is marked finished with status 101, so access logs record it and `on-finished`
 * listeners let go of the socket.
 *
 * @throws Error if the request is not a routed upgrade (check {@link isRoutedUpgrade} first).
 */
export async function admitRoutedUpgrade<TData>(
  warden: Warden<TData>,
  wss: WebSocketServer,
  request: IncomingMessage,
  options: RoutedAdmitOptions = {},
): Promise<RoutedAdmission<TData>> {
  const upgrade = (request as RoutedRequest)[ROUTED]
  if (!upgrade) throw new Error('ws-warden: not an upgrade request routed by routeUpgrades')
  // Set to undefined, not deleted: a delete would turn the request into a slow dictionary object.
  ;(request as RoutedRequest)[ROUTED] = undefined
  const { socket, head, url, response } = upgrade
  const upgradeRequest = toUpgradeRequest(request, options.userId, options.frameworkIp)
  // The request's own URL has the token cut out; admission reads the real one. The object is
  // this call's own: set in place rather than copied.
  ;(upgradeRequest as { url: string }).url = url
  // Awaited only if the warden could not answer in this tick (see `admitNow`).
  const now = warden.admitNow(upgradeRequest, options.endpoint)
  const admission = now instanceof Promise ? await now : now
  if (!admission.ok) {
    return { ok: false, error: admission.error, answer: rejectionAnswer(admission.error) }
  }
  response.detachSocket(socket)
  const connection = await acceptUpgrade(warden, wss, admission.ticket, request, socket, head)
  if (connection) {
    // The WebSocket has its own error listener now; ours would stay on the socket for its life.
    socket.removeListener('error', destroySocket)
    response.statusCode = 101
    response.emit('finish')
  }
  return { ok: true, connection }
}

/**
 * Runs a governed route's handler on its connection; if it throws, the connection is closed
 * with 1011 and the error goes on to the framework's error handling.
 */
export async function runGovernedHandler<TData>(
  connection: Connection<TData>,
  handler: (connection: Connection<TData>) => unknown,
): Promise<void> {
  try {
    await handler(connection)
  } catch (error) {
    connection.close(CloseCode.InternalError, 'internal error')
    throw error
  }
}
