/**
 * The Fastify plugin: registers `@fastify/websocket` with the warden's limits, runs admission as
 * a governed route's last pre-handler (a rejection is a Fastify reply), attaches the socket
 * before the route's handler runs, keeps the token out of the request log, and closes the
 * warden with the app. The shared pieces come from `@ws-warden/core/adapter`.
 *
 * @module
 */
import type { WebsocketPluginOptions } from '@fastify/websocket'
import websocket from '@fastify/websocket'
import type { Admission, Connection, EndpointOptions, Ticket, Warden } from '@ws-warden/core'
import { CloseCode } from '@ws-warden/core'
import type { Fail, HttpAnswer } from '@ws-warden/core/adapter'
import {
  adapterFail,
  checkAdapterOptions,
  closeSockets,
  governedWsOptions,
  isEndpoint,
  redactQuery,
  redactToken,
  rejectionAnswer,
  toUpgradeRequest,
} from '@ws-warden/core/adapter'
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyTypeProvider,
  FastifyTypeProviderDefault,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
  RawServerDefault,
  RouteGenericInterface,
  RouteHandlerMethod,
  RouteOptions,
} from 'fastify'
import fp from 'fastify-plugin'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

/** A governed route's `warden` option: `true`, or the endpoint's own admission settings. */
export type WardenRouteOptions = EndpointOptions

/** The handler of a governed route: it receives the attached connection, never a bare socket. */
export type GovernedHandler<TRequest = FastifyRequest> = (
  this: FastifyInstance,
  connection: Connection,
  request: TRequest,
) => void | Promise<void>

/** `ws` server options the plugin passes on; the warden owns the payload and compression ones. */
export type WebSocketServerOptions = Omit<
  NonNullable<WebsocketPluginOptions['options']>,
  'maxPayload' | 'perMessageDeflate' | 'noServer' | 'server'
>

/** Options of the `@ws-warden/fastify` plugin. */
export interface WardenPluginOptions {
  /** The warden that governs this app's `warden` routes. It is closed when the app closes. */
  readonly warden: Warden
  /**
   * Reads an already-authenticated user from the upgrade request (a session cookie, say), so
   * per-user attempt limits apply before the token is verified and a token issued to someone
   * else is refused.
   * @default undefined (the token alone names the user)
   */
  readonly getUserId?: (request: FastifyRequest) => string | undefined | Promise<string | undefined>
  /** Extra `@fastify/websocket` options. `maxPayload` and `perMessageDeflate` come from the warden. */
  readonly websocket?: {
    readonly options?: WebSocketServerOptions
    readonly errorHandler?: WebsocketPluginOptions['errorHandler']
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The warden registered with `@ws-warden/fastify`. */
    warden: Warden
  }
  // One type parameter, as @fastify/websocket declares it: declarations must agree to merge.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface RouteShorthandOptions<RawServer extends RawServerBase = RawServerDefault> {
    /**
     * Governs a `websocket: true` route: admission runs before the upgrade, and the handler
     * receives the warden's connection.
     * @default false
     */
    warden?: boolean | WardenRouteOptions
  }
  interface RouteShorthandMethod<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> =
      RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
    Logger extends FastifyBaseLogger = FastifyBaseLogger,
  > {
    <RouteGeneric extends RouteGenericInterface = RouteGenericInterface>(
      path: string,
      options: RouteShorthandOptions<RawServer, RawRequest, RawReply, RouteGeneric> & {
        websocket: true
        warden: true | WardenRouteOptions
      },
      handler: GovernedHandler<FastifyRequest<RouteGeneric, RawServer, RawRequest>>,
    ): FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>
  }
}

export const fail: Fail = adapterFail('@ws-warden/fastify')

/** ws options the warden decides: its message limit, and no compression (memory per socket). */
const WARDEN_WS_OPTIONS = ['maxPayload', 'perMessageDeflate', 'noServer', 'server']

function validate(options: WardenPluginOptions): void {
  checkAdapterOptions(fail, options)
  const extras = options.websocket
  if (extras === undefined) return
  if (typeof extras !== 'object' || extras === null) fail('option websocket must be an object')
  if ('preClose' in extras) fail('option websocket.preClose is not supported (the warden closes)')
  const owned = WARDEN_WS_OPTIONS.find((key) => key in (extras.options ?? {}))
  if (owned) fail(`option websocket.options.${owned} is not supported (the warden sets it)`)
}

/** Fastify's default request serializer, with the connect token cut out of the URL. */
function withoutToken(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactToken(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket.remotePort,
  }
}

/** Writes a framework-free answer the Fastify way. */
export function send(reply: FastifyReply, answer: HttpAnswer): FastifyReply {
  return reply.code(answer.status).headers(answer.headers).send(answer.body)
}

/**
 * The client IP Fastify resolved, when it was told to trust the proxy (`trustProxy`): only then
 * does a request have `ips`.
 */
function frameworkIp(request: FastifyRequest): string | undefined {
  return request.ips === undefined ? undefined : request.ip
}

/**
 * Cuts the connect token and the resume credential out of what comes after admission: the raw
 * URL (which `request.url` reads) and the query Fastify parsed from it. The handler and any
 * later hook see `[redacted]`, as the Express and Koa adapters' middleware do; and the request,
 * which `@fastify/websocket`'s error listener keeps for the socket's whole life, no longer holds
 * the token's text.
 */
function forgetCredentials(request: FastifyRequest): void {
  const raw = request.raw
  if (raw.url !== undefined) raw.url = redactToken(raw.url)
  const query: unknown = request.query
  if (typeof query === 'object' && query !== null) redactQuery(query as Record<string, unknown>)
}

/**
 * Lets go of the bytes the upgrade was read in. `@fastify/websocket` keeps the upgrade's `head`
 * on the raw request (a `ws-head` symbol) after the handshake; `head` is a slice of the whole
 * request as read, token included, so each connection kept them all. Found by the symbol's
 * description: if a later version names it otherwise, nothing is done.
 */
function forgetUpgradeBytes(raw: IncomingMessage): void {
  for (const symbol of Object.getOwnPropertySymbols(raw)) {
    if (symbol.description === 'ws-head')
      (raw as unknown as Record<symbol, unknown>)[symbol] = undefined
  }
}

/** The ticket of an admitted upgrade, by its socket, until the socket is attached. */
const unattached = new WeakMap<Socket, Ticket>()

/**
 * Frees the reservation of an upgrade that never completed (`this` is the socket). One function
 * for every socket, and removed (with the ticket) once attached: a closure over the ticket, or a
 * listener left on the socket, would keep them for the connection's whole life.
 */
function releaseUnattached(this: Socket): void {
  unattached.get(this)?.release()
}

async function wardenPlugin(fastify: FastifyInstance, options: WardenPluginOptions): Promise<void> {
  validate(options)
  if (fastify.hasDecorator('websocketServer')) {
    fail('@fastify/websocket is already registered; this plugin registers it itself')
  }
  const { warden, getUserId } = options

  /**
   * Admission, the last pre-handler before the upgrade: a rejection is an HTTP answer, not a 101.
   * A callback hook, so that an admission the warden answers in this tick (see `admitNow`) goes
   * on to the handshake in this tick too. Replying, it does not call `done`, as Fastify asks.
   */
  const admit = (endpoint: EndpointOptions) =>
    function admitUpgrade(
      request: FastifyRequest,
      reply: FastifyReply,
      done: (error?: Error) => void,
    ): void {
      if (!request.ws) return done() // a plain GET: @fastify/websocket answers it with a 404
      const admitted = (admission: Admission): void => {
        if (!admission.ok) {
          send(reply, rejectionAnswer(admission.error))
          return
        }
        const socket = request.raw.socket
        unattached.set(socket, admission.ticket)
        socket.once('close', releaseUnattached)
        done()
      }
      const admitAs = (userId: string | undefined): void => {
        const upgrade = toUpgradeRequest(request.raw, userId, frameworkIp(request))
        forgetCredentials(request)
        const admission = warden.admitNow(upgrade, endpoint)
        if (admission instanceof Promise) admission.then(admitted).catch(done)
        else admitted(admission)
      }
      if (getUserId === undefined) return admitAs(undefined)
      // getUserId may throw or reject: either way its error goes to Fastify's error handling.
      new Promise<string | undefined>((resolve) => resolve(getUserId(request)))
        .then(admitAs)
        .catch(done)
    }

  /** Attaches synchronously, before the user's handler can await anything. */
  const attach = (handler: GovernedHandler) =>
    function governedHandler(this: FastifyInstance, socket: WebSocket, request: FastifyRequest) {
      const raw = request.raw.socket
      const ticket = unattached.get(raw)
      /* c8 ignore next -- only if another plugin removed the admission hook: fail closed */
      if (!ticket) return socket.close(CloseCode.InternalError)
      // Attaching uses the ticket up (or finds it expired, and released): nothing to keep.
      unattached.delete(raw)
      raw.removeListener('close', releaseUnattached)
      forgetUpgradeBytes(request.raw)
      const connection = warden.attach(socket, ticket)
      if (connection) return handler.call(this, connection, request)
    }

  fastify.decorate('warden', warden)
  // Added before @fastify/websocket's own onRoute hook, so it wraps the user's handler.
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const setting = route.warden
    if (setting === undefined || setting === false) return
    const methods = [route.method].flat()
    if (methods.every((method) => method === 'HEAD')) return
    if (route.websocket !== true) fail(`route ${route.url}: option warden needs websocket: true`)
    if (setting !== true && !isEndpoint(setting)) {
      fail(`route ${route.url}: option warden must be true or { permissions: string[] }`)
    }
    const endpoint = setting === true ? {} : setting
    route.handler = attach(
      route.handler as unknown as GovernedHandler,
    ) as unknown as RouteHandlerMethod
    route.preHandler = [...[route.preHandler ?? []].flat(), admit(endpoint)]
    const serializers = route.logSerializers ?? {}
    if (!serializers.req) {
      route.logSerializers = Object.assign(Object.create(serializers) as object, {
        req: withoutToken,
      })
    }
  })

  const errorHandler = options.websocket?.errorHandler
  await fastify.register(websocket, {
    ...(errorHandler && { errorHandler }),
    options: governedWsOptions(warden, options.websocket?.options ?? {}),
    // Ungoverned websocket routes' clients, which the warden does not know, get 1001.
    preClose: () => closeSockets(warden, fastify.websocketServer),
  })
  fastify.addHook('onClose', async () => {
    await warden.close()
  })
}

/**
 * The `@ws-warden/fastify` plugin: registers `@fastify/websocket` with the warden's limits,
 * decorates `fastify.warden`, governs every route declared with `websocket: true, warden: ...`,
 * and shuts the warden down (close code 1012 by default) when the app closes.
 */
export const wardenFastify = fp(wardenPlugin, { fastify: '5.x', name: '@ws-warden/fastify' })
