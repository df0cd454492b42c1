import type { Connection, EndpointOptions, Warden } from '@ws-warden/core'
import { admitRoutedUpgrade, CloseCode, isRoutedUpgrade, retryAfterSeconds } from '@ws-warden/core'
import { routeUpgrades } from '@ws-warden/core'
import type { Application, IRouter, Request, RequestHandler } from 'express'
import type { Server } from 'node:http'
import type { ServerOptions } from 'ws'
import { WebSocketServer } from 'ws'

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
  readonly wsOptions?: Omit<
    ServerOptions,
    'noServer' | 'server' | 'port' | 'maxPayload' | 'perMessageDeflate'
  >
}

/** What {@link wardenExpress} returns, named as express-ws names it. */
export interface WardenExpress<TApp> {
  readonly app: TApp & WithWs
  /** The `noServer` ws 8 server that completes governed handshakes. */
  getWss(): WebSocketServer
  /** Adds `ws` to a router (`express.Router()`) and returns it. */
  applyTo<TRouter extends IRouter>(router: TRouter): TRouter & WithWs
}

function fail(message: string): never {
  throw new TypeError(`@ws-warden/express: ${message}`)
}
const isFunction = (value: unknown): boolean => typeof value === 'function'
const isEndpoint = (value: unknown): value is EndpointOptions => {
  if (typeof value !== 'object' || value === null) return false
  const permissions: unknown = (value as EndpointOptions).permissions ?? []
  return Array.isArray(permissions) && permissions.every((item) => typeof item === 'string')
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
  const { warden, server, getUserId, wsOptions } = options ?? {}
  if (typeof warden?.admit !== 'function') fail('option warden must be a Warden (createWarden)')
  if (getUserId !== undefined && !isFunction(getUserId)) fail('option getUserId must be a function')
  if ('ws' in app) fail('the app already has a ws method (express-ws?): use one or the other')
  const wss = new WebSocketServer({ ...wsOptions, ...warden.wsOptions, noServer: true })
  if (server) routeUpgrades(warden, wss, server, app)
  else {
    const listen = app.listen.bind(app) as (...args: unknown[]) => Server
    app.listen = ((...args: unknown[]) => {
      const created = listen(...args)
      routeUpgrades(warden, wss, created, app)
      return created
    }) as TApp['listen']
  }

  const upgradesOnly: RequestHandler = (request, _response, next) =>
    next(isRoutedUpgrade(request) ? undefined : 'route')
  const governed =
    (endpoint: EndpointOptions, handler: GovernedHandler): RequestHandler =>
    async (request, response, next) => {
      let connection: Connection | undefined
      try {
        const userId = getUserId ? await getUserId(request) : undefined
        const admission = await admitRoutedUpgrade(warden, wss, request, { endpoint, userId })
        if (!admission.ok) {
          const { error } = admission
          const retryAfter = retryAfterSeconds(error)
          if (retryAfter !== undefined) response.set('Retry-After', String(retryAfter))
          return void response.status(error.status).json({ error: error.code })
        }
        connection = admission.connection
        if (connection) await handler(connection, request)
      } catch (error) {
        connection?.close(CloseCode.InternalError, 'internal error')
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
    return this.get(path, upgradesOnly, ...middleware, governed(endpoint, handler))
  }
  const applyTo = <TRouter extends IRouter>(router: TRouter) =>
    Object.assign(router, { ws }) as unknown as TRouter & WithWs
  return { app: applyTo(app), getWss: () => wss, applyTo }
}
