/**
 * The demo on Koa, with `@ws-warden/koa` and `@koa/router`.
 *
 * @module
 */
import Router from '@koa/router'
import { tokenHandler, wardenKoa } from '@ws-warden/koa'
import Koa from 'koa'
import type { Context } from 'koa'
import { createServer } from 'node:http'
import type { RunningDemo, StartOptions } from './app.js'
import { createDemoApp, listen, TOKEN_PATH, WS_PATH } from './app.js'
import type { DemoConfig } from './config.js'
import { jsonLogger } from './log.js'

/** Login bodies are tiny. */
const MAX_BODY_BYTES = 4096

/** The JSON body of a request (Koa has no body parser of its own); 400 if it does not parse. */
async function jsonBody(ctx: Context): Promise<unknown> {
  if (!ctx.is('application/json')) return undefined
  let text = ''
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    text += chunk.toString()
    if (text.length > MAX_BODY_BYTES) ctx.throw(413)
  }
  try {
    return JSON.parse(text) as unknown
  } catch {
    return ctx.throw(400, 'body is not valid JSON')
  }
}

export async function startKoa(config: DemoConfig, options: StartOptions): Promise<RunningDemo> {
  const log = jsonLogger(options.logger !== false)
  const demo = await createDemoApp(config, { logger: log, stores: options.stores })
  const app = new Koa()
  const server = createServer()
  const { ws } = wardenKoa(app, { warden: demo.warden, server })
  const router = new Router()
  for (const route of demo.routes) {
    router[route.method === 'GET' ? 'get' : 'post'](route.path, async (ctx) => {
      const request = { headers: ctx.headers, query: ctx.query, body: await jsonBody(ctx) }
      const { status, type, headers = {}, body } = await route.handle(request)
      ctx.status = status
      ctx.set(headers)
      if (body !== undefined) ctx.body = body
      if (type) ctx.type = type
    })
  }
  router.post(TOKEN_PATH, tokenHandler({ warden: demo.warden, authenticate: demo.authenticate }))
  router.get(
    WS_PATH,
    ws((connection) => demo.greet(connection)),
  )
  app.use(router.routes())
  app.silent = options.logger === false
  server.on('request', app.callback())
  const url = await listen(server, config)
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()))
  return { url, log, warden: demo.warden, close: () => close().then(() => demo.close()) }
}
