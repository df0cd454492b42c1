/**
 * Koa `ws(...)` route middleware: every upgrade goes through the app's middleware as an ordinary
 * request, a governed route admits it (a rejection is a Koa response) and hands the connection
 * to its handler. The shared pieces come from `@ws-warden/core/adapter`.
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
import type Koa from 'koa'
import type { Context, Next } from 'koa'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { WebSocketServer } from 'ws'

/** A governed route's own admission settings: `{ permissions: [...] }`. */
export type WardenRouteOptions = EndpointOptions

/** The handler of a governed route: it receives the attached connection, never a bare socket. */
export type GovernedHandler<TContext extends Context = Context> = (
  connection: Connection,
  ctx: TContext,
) => void | Promise<void>

/** A governed route's middleware, typed by the context it runs in (a router's, with `params`). */
export type GovernedMiddleware<TContext extends Context = Context> = (
  ctx: TContext,
  next: Next,
) => Promise<unknown>

/** Options of {@link wardenKoa}. */
export interface WardenKoaOptions {
  /** The warden that governs the `ws` routes. The server's `close()` closes it. */
  readonly warden: Warden
  /** The HTTP(S) server to govern. @default the server `app.listen()` creates */
  readonly server?: Server
  /**
   * Reads a user your own middleware already authenticated (`ctx.state.user`), so per-user
   * attempt limits apply before the token is verified and a token issued to someone else is
   * refused.
   * @default undefined (the token alone names the user)
   */
  readonly getUserId?: (ctx: Context) => string | undefined | Promise<string | undefined>
  /** Extra `ws` server options (`handleProtocols`...). @default {} */
  readonly wsOptions?: WsServerOptions
}

/** What {@link wardenKoa} returns. */
export interface WardenKoa {
  /** The middleware of a governed WebSocket route: `router.get('/ws', ws(handler))`. */
  ws<TContext extends Context = Context>(
    handler: GovernedHandler<TContext>,
  ): GovernedMiddleware<TContext>
  ws<TContext extends Context = Context>(
    options: WardenRouteOptions,
    handler: GovernedHandler<TContext>,
  ): GovernedMiddleware<TContext>
  /** The `noServer` ws 8 server that completes governed handshakes. */
  readonly wss: WebSocketServer
}

export const fail: Fail = adapterFail('@ws-warden/koa')

/** Writes a framework-free answer the Koa way. */
export function send(ctx: Context, answer: HttpAnswer): void {
  ctx.status = answer.status
  ctx.set(answer.headers)
  ctx.body = answer.body
}

/**
 * Governs a Koa app's WebSocket routes with `ws` 8. Every HTTP upgrade on the server goes through
 * the app's middleware as an ordinary request whose response writes to the socket, so your own
 * middleware runs first (`ctx.throw(401)` answers 401), and a `ws(...)` route's rejection is a
 * real HTTP answer: the client never gets a 101. A plain GET passes on to the next middleware.
 *
 * @throws TypeError naming an invalid option.
 */
export function wardenKoa(app: Koa, options: WardenKoaOptions): WardenKoa {
  checkAdapterOptions(fail, options)
  const { warden, server, getUserId, wsOptions } = options
  const wss = governedWss(warden, wsOptions)
  // Composed at the first upgrade, once every middleware is registered.
  let handle: ((request: IncomingMessage, response: ServerResponse) => unknown) | undefined
  const listener = (request: IncomingMessage, response: ServerResponse) =>
    (handle ??= app.callback())(request, response)
  governServer(warden, wss, app, listener, server)

  function ws(
    ...args: [GovernedHandler] | [WardenRouteOptions, GovernedHandler]
  ): GovernedMiddleware {
    const [endpoint, handler] = args.length === 1 ? [{}, args[0]] : args
    if (!isEndpoint(endpoint) || typeof handler !== 'function') {
      fail('use ws([{ permissions: string[] }], handler)')
    }
    return async function governedRoute(ctx, next) {
      if (!isRoutedUpgrade(ctx.req)) return next()
      const userId = getUserId ? await getUserId(ctx) : undefined
      // Koa resolved the client IP itself when told to trust the proxy (`app.proxy`).
      const frameworkIp = ctx.app.proxy ? ctx.ip : undefined
      const admission = await admitRoutedUpgrade(warden, wss, ctx.req, {
        endpoint,
        userId,
        frameworkIp,
      })
      if (!admission.ok) return send(ctx, admission.answer)
      ctx.respond = false
      const { connection } = admission
      if (connection) await runGovernedHandler(connection, () => handler(connection, ctx))
    }
  }
  return { ws, wss }
}
