/**
 * The demo on Express, with `@ws-warden/express`.
 *
 * @module
 */
import { tokenHandler, wardenExpress } from '@ws-warden/express'
import type { ErrorRequestHandler } from 'express'
import express from 'express'
import { createServer } from 'node:http'
import type { RunningDemo, StartOptions } from './app.js'
import { createDemoApp, listen, TOKEN_PATH, WS_PATH } from './app.js'
import type { DemoConfig } from './config.js'
import { jsonLogger } from './log.js'

export async function startExpress(
  config: DemoConfig,
  options: StartOptions,
): Promise<RunningDemo> {
  const log = jsonLogger(options.logger !== false)
  const demo = await createDemoApp(config, { logger: log, stores: options.stores })
  const server = createServer()
  const { app } = wardenExpress(express(), { warden: demo.warden, server })
  app.use(express.json())
  for (const route of demo.routes) {
    app[route.method === 'GET' ? 'get' : 'post'](route.path, async (request, response) => {
      const { status, type, headers = {}, body } = await route.handle(request)
      response.status(status).set(headers)
      if (type) response.type(type)
      if (body === undefined) response.end()
      else if (typeof body === 'string') response.send(body)
      else response.json(body)
    })
  }
  app.post(TOKEN_PATH, tokenHandler({ warden: demo.warden, authenticate: demo.authenticate }))
  app.ws(WS_PATH, (connection) => demo.greet(connection))
  // A body express.json() cannot parse: 400, without a stack trace on stderr.
  const badRequest: ErrorRequestHandler = (
    error: { status?: number },
    _request,
    response,
    next,
  ) => {
    if (error.status !== 400) return next(error)
    response.status(400).json({ error: 'bad_request' })
  }
  app.use(badRequest)
  server.on('request', app)
  const url = await listen(server, config)
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()))
  return { url, log, warden: demo.warden, close: () => close().then(() => demo.close()) }
}
