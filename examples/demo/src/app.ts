/**
 * The demo, whatever the framework: the warden (with its stores, in-process sweeper and metrics),
 * and every route as a framework-neutral handler. `fastify.ts`, `express.ts` and `koa.ts` only
 * mount these on their framework with its ws-warden adapter.
 *
 * @module
 */
import type { Connection, Logger, Principal, Warden } from '@ws-warden/core'
import { createWarden } from '@ws-warden/core'
import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { authorizeChannel, handlers, permissionsOf } from './chat.js'
import type { DemoConfig } from './config.js'
import { DemoMetrics } from './metrics.js'
import { currentUser, logIn, USER_NAME } from './session.js'
import type { DemoStores } from './stores.js'
import { createStores, resumable } from './stores.js'
import { JAVASCRIPT, vendorFiles } from './vendor.js'

const PAGE = readFileSync(new URL('../public/index.html', import.meta.url), 'utf8')

/** The WebSocket route. */
export const WS_PATH = '/ws'
/** The token endpoint (mounted with each adapter's own token helper). */
export const TOKEN_PATH = '/api/ws-token'

/** What a route reads from a request: every framework has these under these names. */
export interface DemoRequest {
  readonly headers: IncomingHttpHeaders
  readonly query: unknown
  /** The parsed JSON body, if any. */
  readonly body?: unknown
}

/** What a route answers; the adapter writes it with its framework's reply. */
export interface DemoResponse {
  readonly status: number
  readonly type?: string
  readonly headers?: Readonly<Record<string, string>>
  /** A string is sent as is, an object as JSON. */
  readonly body?: string | object
}

export interface DemoRoute {
  readonly method: 'GET' | 'POST'
  readonly path: string
  handle(request: DemoRequest): Promise<DemoResponse>
}

export interface DemoApp {
  readonly warden: Warden
  /** The page, the vendored client, health, login, stats and metrics. */
  readonly routes: readonly DemoRoute[]
  /** Who asks for a connect token (the session cookie, `?user=`); undefined answers 401. */
  authenticate(request: DemoRequest): Principal | undefined
  /** The `/ws` handler: greets the new connection. */
  greet(connection: Connection): void
  /** Closes the warden (code 1012 to clients; its sweeper stops), then the stores. */
  close(): Promise<void>
}

/** A running demo, whatever the framework. */
export interface RunningDemo {
  /** The URL the page is served at. */
  readonly url: string
  readonly log: Pick<Logger, 'info' | 'warn'>
  readonly warden: Warden
  /** Graceful shutdown: connections get close code 1012, the stores close. */
  close(): Promise<void>
}

/** Options of every adapter's start function. */
export interface StartOptions {
  /** `false` silences the logs (tests). @default true */
  readonly logger?: boolean
  /** Stores to use instead of creating the configured ones (tests). */
  readonly stores?: DemoStores
}

export interface DemoAppOptions {
  readonly logger: Logger
  /** Stores to use instead of creating the configured ones (tests). */
  readonly stores?: DemoStores | undefined
}

const queryUser = (query: unknown): unknown => (query as { user?: unknown } | undefined)?.user

/**
 * Creates the stores (once their service answers), the warden and the routes; resolves once the
 * warden receives what other processes publish.
 */
export async function createDemoApp(config: DemoConfig, options: DemoAppOptions): Promise<DemoApp> {
  // Read before anything is started: a client that is not built stops start-up, saying so.
  const vendored = vendorFiles()
  const stores = options.stores ?? (await createStores(config, options.logger))
  // Resumption needs history and resumable sessions in the shared stores (see stores.ts).
  const resumption = resumable(stores)
  if (!resumption) {
    options.logger.warn(
      { event: 'config', variable: 'WARDEN_STORE', store: config.store },
      `session resumption is off: the ${config.store} store set has no history and resumes stores`,
    )
  }
  const metrics = new DemoMetrics()
  const warden = createWarden({
    tokens: {
      secret: config.tokenSecret,
      ttlSeconds: config.tokenTtlS,
      clockToleranceSeconds: config.clockToleranceS,
    },
    stores,
    // Without WARDEN_ALLOWED_ORIGINS, a browser may connect only from the page's own origin (its
    // `Origin` names the host it connects to; a request without `Origin` passes). The warden
    // checks it before the token, and no onAdmit hook delays the record to a second store trip.
    origins: config.allowedOrigins ?? 'same-origin',
    limits: {
      connectAttemptsPerIp: config.connectLimit,
      messagesPerSecond: config.messageRate,
      maxMessageBytes: config.maxMessageBytes,
      connectionsPerUser: config.maxConnectionsPerUser,
      connectionsPerIp: config.maxConnectionsPerIp,
    },
    heartbeat: { intervalMs: config.heartbeatIntervalMs, timeoutMs: config.heartbeatTimeoutMs },
    // A page that reconnects within 2 minutes gets its channels back and what it missed.
    resumption,
    // Of the processes sharing `stores.locks`, one sweeps at a time. A connection is stale once
    // its heartbeat deadline has passed without a touch: its instance died without closing it.
    sweeper: {
      intervalMs: config.sweepIntervalMs,
      sessionStaleMs: config.heartbeatIntervalMs + config.heartbeatTimeoutMs,
    },
    handlers,
    authorizeChannel,
    hooks: metrics.hooks,
    logger: options.logger,
  })
  metrics.attach(warden)
  // Derived, so processes sharing WARDEN_TOKEN_SECRET share sessions, with a key of its own.
  const cookieKey = createHmac('sha256', config.tokenSecret).update('demo session cookie').digest()
  const json = (body: object, status = 200): DemoResponse => ({ status, body })

  const routes: DemoRoute[] = [
    {
      method: 'GET',
      path: '/',
      handle: async () => ({ status: 200, type: 'text/html; charset=utf-8', body: PAGE }),
    },
    ...vendored.map(({ path, body }): DemoRoute => ({
      method: 'GET',
      path,
      handle: async () => ({
        status: 200,
        type: JAVASCRIPT,
        headers: { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' },
        body,
      }),
    })),
    { method: 'GET', path: '/healthz', handle: async () => json({ status: 'ok' }) },
    {
      method: 'POST',
      path: '/api/login',
      handle: async ({ headers, body }) => {
        const user: unknown = (body as { user?: unknown } | null | undefined)?.user
        if (typeof user !== 'string' || !USER_NAME.test(user)) {
          return json({ error: 'bad_request', message: `user must match ${USER_NAME}` }, 400)
        }
        return { status: 204, headers: { 'set-cookie': logIn(headers.cookie, cookieKey, user) } }
      },
    },
    { method: 'GET', path: '/api/stats', handle: async () => json((await warden.stats()).cluster) },
    {
      method: 'GET',
      path: '/metrics',
      handle: async () => ({
        status: 200,
        type: metrics.contentType,
        body: await metrics.render(),
      }),
    },
  ]

  try {
    await warden.ready()
  } catch (error) {
    await warden.close()
    await stores.close()
    throw error
  }
  return {
    warden,
    routes,
    authenticate: ({ headers, query }) => {
      const user = currentUser(headers.cookie, cookieKey, queryUser(query))
      return user === undefined ? undefined : { userId: user, permissions: permissionsOf(user) }
    },
    greet: (connection) => void connection.send({ type: 'welcome', user: connection.userId }),
    async close() {
      await warden.close() // idempotent: the stores close after the connections
      await stores.close()
    },
  }
}

/** Listens on the configured host and port; resolves to the page's URL. */
export async function listen(server: Server, config: DemoConfig): Promise<string> {
  server.listen(config.port, config.host)
  await once(server, 'listening')
  const { address, port } = server.address() as AddressInfo
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`
}
