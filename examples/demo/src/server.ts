/**
 * Builds the demo app on Fastify: the page, login with a signed session cookie, the token
 * endpoint, stats, metrics and the governed `/ws` route.
 */
import cookie from '@fastify/cookie'
import type { Principal, UpgradeRequest } from '@ws-warden/core'
import { createWarden, OriginNotAllowedError } from '@ws-warden/core'
import { tokenRoute, wardenFastify } from '@ws-warden/fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import Fastify from 'fastify'
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { authorizeChannel, handlers, permissionsOf } from './chat.js'
import type { DemoConfig } from './config.js'
import { DemoMetrics } from './metrics.js'
import { currentUser, logIn, USER_NAME } from './session.js'
import type { DemoStores } from './stores.js'
import { createStores } from './stores.js'
import { startSweeper } from './sweeper.js'

const PAGE = readFileSync(new URL('../public/index.html', import.meta.url), 'utf8')

export interface BuildOptions {
  /** Fastify's logger option. @default { level: 'info' } */
  readonly logger?: FastifyServerOptions['logger']
  /** Stores to use instead of creating the configured ones (tests). */
  readonly stores?: DemoStores
}

/**
 * Without WARDEN_ALLOWED_ORIGINS, a browser may connect only from the page's own origin: its
 * `Origin` must name the host it connects to. A request without `Origin` (not a browser) passes.
 */
function sameOrigin(principal: Principal, request: UpgradeRequest): Principal {
  const { origin, host = '' } = request.headers
  if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) {
    throw new OriginNotAllowedError()
  }
  return principal
}

export async function buildServer(
  config: DemoConfig,
  options: BuildOptions = {},
): Promise<FastifyInstance> {
  const stores = options.stores ?? createStores(config)
  const app = Fastify({ logger: options.logger ?? { level: 'info' } })
  const metrics = new DemoMetrics()
  const warden = createWarden({
    tokens: { secret: config.tokenSecret, ttlSeconds: config.tokenTtlS },
    stores,
    ...(config.allowedOrigins && { origins: config.allowedOrigins }),
    limits: {
      connectAttemptsPerIp: config.connectLimit,
      messagesPerSecond: config.messageRate,
      maxMessageBytes: config.maxMessageBytes,
      connectionsPerUser: config.maxConnectionsPerUser,
    },
    heartbeat: { intervalMs: config.heartbeatIntervalMs, timeoutMs: config.heartbeatTimeoutMs },
    handlers,
    authorizeChannel,
    hooks: { ...metrics.hooks, ...(!config.allowedOrigins && { onAdmit: sameOrigin }) },
    logger: app.log,
  })
  // Derived, so processes sharing WARDEN_TOKEN_SECRET share sessions, with a key of its own.
  const cookieSecret = createHmac('sha256', config.tokenSecret)
    .update('demo session cookie')
    .digest()
  await app.register(cookie, { secret: cookieSecret })
  await app.register(wardenFastify, { warden })

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE))
  app.get('/healthz', async () => ({ status: 'ok' }))

  app.post('/api/login', async (request, reply) => {
    const user: unknown = (request.body as { user?: unknown } | null)?.user
    if (typeof user !== 'string' || !USER_NAME.test(user)) {
      return reply.code(400).send({ error: 'bad_request', message: `user must match ${USER_NAME}` })
    }
    logIn(request, reply, user)
    return reply.code(204).send()
  })

  tokenRoute(app, {
    url: '/api/ws-token',
    authenticate: (request) => {
      const user = currentUser(request)
      return user === undefined ? undefined : { userId: user, permissions: permissionsOf(user) }
    },
  })

  app.get('/api/stats', async () => (await warden.stats()).cluster)
  app.get('/metrics', async (_request, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(await metrics.render(warden)),
  )

  app.get('/ws', { websocket: true, warden: true }, (connection) => {
    connection.send({ type: 'welcome', user: connection.userId })
  })

  const stopSweeper = startSweeper(stores, {
    intervalMs: config.sweepIntervalMs,
    deadlineMs: config.heartbeatIntervalMs + config.heartbeatTimeoutMs,
    logger: app.log,
  })
  app.addHook('onClose', async () => {
    stopSweeper()
    await warden.close() // idempotent: the stores close after the connections
    await stores.close()
  })
  return app
}
