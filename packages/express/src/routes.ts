/**
 * Express `ws` routes: every upgrade goes through the app as an ordinary request, a governed
 * route admits it (a rejection is an Express response) and hands the connection to its handler.
 * The shared pieces come from `@ws-warden/core/adapter`.
 *
 * @module
 */
import type { Connection, EndpointOptions, Warden } from '@ws-warden/core'
import type { Fail, HttpAnswer, WsServerOptions } from '@ws-warden/core/adapter'
import {
  adapterFail,
  admitRoutedUpgrade,
  checkAdapterOptions,
  governedWss,
  governServer,
  isEndpoint,
  isRoutedUpgrade,
  runGovernedHandler,
} from '@ws-warden/core/adapter'
import type { Application, IRouter, Request, RequestHandler, Response } from 'express'
import type { Server } from 'node:http'
import type { WebSocketServer } from 'ws'

/** A governed route's own admission settings: `{ permissions: [...] }`. */
export type WardenRouteOptions = EndpointOptions

/** The last handler of a `ws` route: it receives the attached connection, never a bare socket. */
export type GovernedHandler = (connection: Connection, request: Request) => void | Promise<void>

type Handlers = [...RequestHandler[], GovernedHandler]

/** `ws(path, [options], ...middleware, handler)`: express-ws's route shape. */
export interface WsMethod<T> {
  (path: string | RegExp, ...handlers: Handlers): T
  (path: string | RegExp, options: WardenRouteOptions, ...handlers: Handlers): T
}

/** An app or router with the `ws` method. */
export interface WithWs {
  ws: WsMethod<this>
}

/** Options of {@link wardenExpress}. */
export interface WardenExpressOptions {
  /** The warden that governs the `ws` routes. The server's `close()` closes it. */
  readonly warden: Warden
  /** The HTTP(S) server to govern. @default the server `app.listen()` creates */
  readonly server?: Server
  /**
   * Reads a user your own middleware already authenticated, so per-user attempt limits apply
   * before the token is verified and a token issued to someone else is refused.
   * @default undefined (the token alone names the user)
   */
  readonly getUserId?: (request: Request) => string | undefined | Promise<string | undefined>
  /** Extra `ws` server options (`handleProtocols`...). @default {} */
  readonly wsOptions?: WsServerOptions
}

/** What {@link wardenExpress} returns, named as express-ws names it. */
export interface WardenExpress<TApp> {
  readonly app: TApp & WithWs
  /** The `noServer` ws 8 server that completes governed handshakes. */
  getWss(): WebSocketServer
  /** Adds `ws` to a router (`express.Router()`) and returns it. */
  applyTo<TRouter extends IRouter>(router: TRouter): TRouter & WithWs
}

export const fail: Fail = adapterFail('@ws-warden/express')
const isFunction = (value: unknown): boolean => typeof value === 'function'

/** Writes a framework-free answer the Express way. */
export function send(response: Response, answer: HttpAnswer): void {
  response.status(answer.status).set(answer.headers).json(answer.body)
}

/** The client IP Express resolved, when the app was told to trust the proxy (`trust proxy`). */
function frameworkIp(request: Request): string | undefined {
  const trust: unknown = request.app.get('trust proxy')
  return trust === false || trust === 0 || trust === undefined ? undefined : request.ip
}

/**
 * Governs an Express app's WebSocket routes with `ws` 8. Every HTTP upgrade on the server goes
 * through the app as an ordinary request whose response writes to the socket, so your middleware
 * runs (and may answer 401) before admission, and a rejection is a real HTTP answer: the client
 * never gets a 101. `app.ws(path, handler)` routes then get the warden's connection.
 *
 * @throws TypeError naming an invalid option.
 */
export function wardenExpress<TApp extends Application>(
  app: TApp,
  options: WardenExpressOptions,
): WardenExpress<TApp> {
  checkAdapterOptions(fail, options)
  const { warden, server, getUserId, wsOptions } = options
  if ('ws' in app) fail('the app already has a ws method (express-ws?): use one or the other')
  const wss = governedWss(warden, wsOptions)
  governServer(warden, wss, app, app, server)

  // A plain GET on a `ws` path skips the route, its middleware included.
  const upgradesOnly: RequestHandler = (request, _response, next) =>
    next(isRoutedUpgrade(request) ? undefined : 'route')
  const governed =
    (endpoint: EndpointOptions, handler: GovernedHandler, checked: boolean): RequestHandler =>
    async (request, response, next) => {
      // A route without middleware is one layer: the check is made here, not in a layer of its own.
      if (!checked && !isRoutedUpgrade(request)) return next('route')
      try {
        const userId = getUserId ? await getUserId(request) : undefined
        const admission = await admitRoutedUpgrade(warden, wss, request, {
          endpoint,
          userId,
          frameworkIp: frameworkIp(request),
        })
        if (!admission.ok) return send(response, admission.answer)
        const { connection } = admission
        if (connection) await runGovernedHandler(connection, () => handler(connection, request))
      } catch (error) {
        next(error)
      }
    }

  function ws(this: IRouter, path: string | RegExp, ...rest: unknown[]): IRouter {
    const endpoint = typeof rest[0] === 'function' ? {} : rest.shift()
    const handler = rest.pop() as GovernedHandler
    if (!isEndpoint(endpoint) || !isFunction(handler) || !rest.every(isFunction)) {
      fail(`route ${String(path)}: use ws(path, [{ permissions }], ...middleware, handler)`)
    }
    const middleware = rest as RequestHandler[]
    if (middleware.length === 0) return this.get(path, governed(endpoint, handler, false))
    return this.get(path, upgradesOnly, ...middleware, governed(endpoint, handler, true))
  }
  const applyTo = <TRouter extends IRouter>(router: TRouter) =>
    Object.assign(router, { ws }) as unknown as TRouter & WithWs
  return { app: applyTo(app), getWss: () => wss, applyTo }
}
