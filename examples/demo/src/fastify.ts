/**
 * The demo on Fastify, with `@ws-warden/fastify`.
 *
 * @module
 */
import { tokenRoute, wardenFastify } from '@ws-warden/fastify'
import Fastify from 'fastify'
import type { DemoRequest, RunningDemo, StartOptions } from './app.js'
import { createDemoApp, TOKEN_PATH, WS_PATH } from './app.js'
import type { DemoConfig } from './config.js'

export async function startFastify(
  config: DemoConfig,
  options: StartOptions,
): Promise<RunningDemo> {
  const app = Fastify({ logger: options.logger === false ? false : { level: 'info' } })
  const demo = await createDemoApp(config, { logger: app.log, stores: options.stores })
  await app.register(wardenFastify, { warden: demo.warden })
  for (const route of demo.routes) {
    app.route({
      method: route.method,
      url: route.path,
      handler: async (request, reply) => {
        const { status, type, headers = {}, body } = await route.handle(request as DemoRequest)
        if (type) void reply.type(type)
        return reply.code(status).headers(headers).send(body)
      },
    })
  }
  tokenRoute(app, { url: TOKEN_PATH, authenticate: (request) => demo.authenticate(request) })
  // The warden logs every connect, refusal and disconnect itself (one line each, the token never
  // in it), so Fastify's own `incoming request` line per upgrade would say it twice: at `warn`
  // the route keeps Fastify's warnings and errors. The benchmark measured that line at ~220 µs
  // of CPU per connection, more than the whole admission on the memory store.
  app.get(WS_PATH, { websocket: true, warden: true, logLevel: 'warn' }, (connection) =>
    demo.greet(connection),
  )
  app.addHook('onClose', () => demo.close())
  await app.listen({ host: config.host, port: config.port })
  return { url: app.listeningOrigin, log: app.log, warden: demo.warden, close: () => app.close() }
}
