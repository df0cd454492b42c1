import t from 'tap'
import type { Test } from 'tap'
import Router from '@koa/router'
import Koa from 'koa'
import { once } from 'node:events'
import http, { createServer } from 'node:http'
import type { ServerOptions } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import WebSocket from 'ws'
import type { WardenKoaOptions } from '../src/index.js'
import { wardenKoa } from '../src/index.js'
import { Client, listen, open, testWarden, tokenFor, until } from './helpers.js'

/** A Koa app and router governed by a fresh warden, on its own server (routes mounted last). */
function governed(
  t: Test,
  options: Partial<WardenKoaOptions> = {},
  serverOptions: ServerOptions = {},
) {
  const warden = testWarden(t)
  const app = new Koa()
  const router = new Router()
  const server = createServer(serverOptions)
  const result = wardenKoa(app, { warden, server, ...options })
  server.on('request', (request, response) => void app.callback()(request, response))
  const start = async () => {
    app.use(router.routes())
    return listen(t, server)
  }
  return { warden, app, router, server, start, ...result }
}

t.test('your middleware runs first: ctx.throw(401) is answered before any upgrade', async (t) => {
  const { app, router, ws, start, warden } = governed(t)
  app.use(async (ctx, next) => {
    if (ctx.get('authorization') !== 'Bearer ok') ctx.throw(401, 'login first')
    await next()
  })
  router.get(
    '/ws',
    ws((connection) => void connection.send({ type: 'welcome' })),
  )
  const base = await start()
  const token = await tokenFor(warden, 'alice')
  const refused = await open(t, `${base}/ws?ws_token=${token}`)
  t.equal(refused.status, 401)
  t.equal(refused.body, 'login first', "Koa's own error response")
  const client = await open(t, `${base}/ws?ws_token=${token}`, {
    headers: { authorization: 'Bearer ok' },
  })
  t.equal(client.status, 101, 'the token was not consumed by the refused attempt')
  t.ok(await client.next((m) => m.type === 'welcome'))
})

t.test('a rejection is a Koa response: status, JSON body, Retry-After', async (t) => {
  const { app, router, ws, start } = governed(t)
  const statuses: number[] = []
  app.use(async (ctx, next) => {
    await next()
    statuses.push(ctx.status)
  })
  router.get(
    '/ws',
    ws(() => {}),
  )
  const base = await start()
  for (let attempt = 1; attempt <= 20; attempt++) await open(t, `${base}/ws`)
  const limited = await open(t, `${base}/ws`)
  t.equal(limited.status, 429)
  t.same(limited.body, { error: 'rate_limited' })
  t.match(limited.retryAfter, /^\d+$/)
  t.same(new Set(statuses), new Set([401, 429]), 'upstream middleware saw every status')
})

t.test('a plain GET passes on: to your page, or to 404', async (t) => {
  const { router, ws, start, warden } = governed(t)
  router.get(
    '/chat',
    ws((connection) => void connection.send({ type: 'welcome' })),
    (ctx) => {
      ctx.body = 'the chat page'
    },
  )
  router.get(
    '/ws',
    ws(() => {}),
  )
  const base = (await start()).replace('ws:', 'http:')
  t.equal(await (await fetch(`${base}/chat`)).text(), 'the chat page')
  const token = await tokenFor(warden, 'alice')
  const plain = await fetch(`${base}/ws?ws_token=${token}`)
  t.equal(plain.status, 404)
  const client = await open(t, `${base.replace('http:', 'ws:')}/ws?ws_token=${token}`)
  t.equal(client.status, 101, 'the plain GET consumed nothing')
})

t.test('@koa/router params and route permissions', async (t) => {
  const { router, ws, start, warden } = governed(t)
  router.get(
    '/rooms/:room',
    ws({ permissions: ['chat'] }, (connection, ctx) => {
      connection.send({ type: 'welcome', room: ctx.params.room })
    }),
  )
  const base = await start()
  const denied = await open(t, `${base}/rooms/a?ws_token=${await tokenFor(warden, 'u')}`)
  t.equal(denied.status, 403)
  t.same(denied.body, { error: 'forbidden' })
  const chat = { userId: 'u', permissions: ['chat'] }
  const client = await open(t, `${base}/rooms/lobby?ws_token=${await tokenFor(warden, chat)}`)
  t.same(await client.next((m) => m.type === 'welcome'), { type: 'welcome', room: 'lobby' })
})

t.test('getUserId reads ctx.state.user', async (t) => {
  const { app, router, ws, start, warden } = governed(t, {
    getUserId: (ctx) => (ctx.state as { user?: string }).user,
  })
  app.use(async (ctx, next) => {
    ctx.state.user = ctx.get('x-user')
    await next()
  })
  router.get(
    '/ws',
    ws(() => {}),
  )
  const base = await start()
  const stolen = await open(t, `${base}/ws?ws_token=${await tokenFor(warden, 'alice')}`, {
    headers: { 'x-user': 'mallory' },
  })
  t.equal(stolen.status, 401, 'a token issued to someone else is refused')
  t.same(stolen.body, { error: 'token_invalid' })
  const own = await open(t, `${base}/ws?ws_token=${await tokenFor(warden, 'alice')}`, {
    headers: { 'x-user': 'alice' },
  })
  t.equal(own.status, 101)
})

t.test(
  'the token never reaches middleware or access logs; they see 101 or the status',
  async (t) => {
    const { app, router, ws, start, warden } = governed(t)
    const logged: string[] = []
    app.use(async (ctx, next) => {
      ctx.res.on('finish', () => logged.push(`${ctx.res.statusCode} ${ctx.url}`))
      await next()
    })
    router.get(
      '/ws',
      ws(() => {}),
    )
    const base = await start()
    const token = await tokenFor(warden, 'alice')
    t.equal((await open(t, `${base}/ws?ws_token=${token}&x=1`)).status, 101)
    t.equal((await open(t, `${base}/ws?ws_token=${token}`)).status, 401)
    await until(() => logged.length === 2)
    t.same(logged, ['101 /ws?ws_token=[redacted]&x=1', '401 /ws?ws_token=[redacted]'])
  },
)

t.test("a handler that throws closes with 1011 and reaches the app's error event", async (t) => {
  const { app, router, ws, start, warden } = governed(t)
  const errors: string[] = []
  app.on('error', (error: Error) => errors.push(error.message))
  router.get(
    '/ws',
    ws(async () => {
      throw new Error('boom')
    }),
  )
  const client = await open(t, `${await start()}/ws?ws_token=${await tokenFor(warden, 'a')}`)
  t.equal((await client.closed).code, 1011)
  await until(() => errors.length === 1)
  t.same(errors, ['boom'])
})

t.test("an upgraded socket's errors are not Koa request errors", async (t) => {
  const { app, router, ws, wss, start, warden } = governed(t)
  const errors: unknown[] = []
  app.on('error', (error) => errors.push(error))
  router.get(
    '/ws',
    ws(() => {}),
  )
  const client = await open(t, `${await start()}/ws?ws_token=${await tokenFor(warden, 'a')}`)
  await until(() => wss.clients.size === 1)
  const [socket] = wss.clients as Set<WebSocket & { _socket: NodeJS.EventEmitter }>
  socket!._socket.emit('error', new Error('read ECONNRESET'))
  await client.closed
  await until(() => [...warden.connections()].length === 0)
  t.same(errors, [], 'Koa did not log it as a failed request')
})

t.test('a handshake ws refuses after admission gets its 400; the handler never runs', async (t) => {
  const { router, ws, start, warden } = governed(t)
  let handled = false
  router.get(
    '/ws',
    ws(() => {
      handled = true
    }),
  )
  const url = new URL(`${await start()}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
  const request = http.get({
    host: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    headers: {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'malformed',
    },
  })
  t.teardown(() => request.destroy())
  const [response] = (await once(request, 'response')) as [http.IncomingMessage]
  t.equal(response.statusCode, 400)
  await until(async () => (await warden.stats()).cluster.connections === 0)
  t.notOk(handled)
})

t.test("app.listen()'s server is governed, and its close() shuts the warden down", async (t) => {
  const warden = testWarden(t)
  const app = new Koa()
  const router = new Router()
  router.get(
    '/ws',
    wardenKoa(app, { warden }).ws(() => {}),
  )
  app.use(router.routes())
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  const client = await open(t, `ws://127.0.0.1:${port}/ws?ws_token=${await tokenFor(warden, 'a')}`)
  t.equal(client.status, 101)
  await new Promise((resolve) => server.close(resolve))
  t.ok(warden.isClosing)
  t.equal((await client.closed).code, 1012)
})

t.test("upgraded sockets are not HTTP requests: Node's request timeout spares them", async (t) => {
  const { router, ws, start, warden } = governed(
    t,
    {},
    { headersTimeout: 100, requestTimeout: 150, connectionsCheckingInterval: 25 },
  )
  router.get(
    '/ws',
    ws(() => {}),
  )
  const client = await open(t, `${await start()}/ws?ws_token=${await tokenFor(warden, 'a')}`)
  t.equal(client.status, 101)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(client.socket.readyState, client.socket.OPEN, 'still open after several checks')
})

t.test('ws options: the warden sets the limits, yours are passed on', async (t) => {
  const { router, ws, wss, start, warden } = governed(t, {
    wsOptions: { handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false) },
  })
  router.get(
    '/ws',
    ws(() => {}),
  )
  t.equal(wss.options.maxPayload, 65_536)
  t.equal(wss.options.perMessageDeflate, false)
  const base = await start()
  const socket = new WebSocket(`${base}/ws?ws_token=${await tokenFor(warden, 'a')}`, 'chat.v1')
  t.teardown(() => socket.terminate())
  t.equal((await Client.start(socket)).status, 101)
  t.equal(socket.protocol, 'chat.v1')
})

t.test('options are validated with errors that name them', async (t) => {
  const warden = testWarden(t)
  const shared = createServer()
  wardenKoa(new Koa(), { warden, server: shared })
  t.throws(() => wardenKoa(new Koa(), { warden, server: shared }), /already routes its upgrades/)
  const cases: [unknown, RegExp][] = [
    [undefined, /option warden must be a Warden/],
    [{ warden: {} }, /option warden must be a Warden/],
    [{ warden, getUserId: 'alice' }, /option getUserId must be a function/],
  ]
  for (const [options, message] of cases) {
    t.throws(() => wardenKoa(new Koa(), options as WardenKoaOptions), {
      name: 'TypeError',
      message,
    })
  }
  const { ws } = wardenKoa(new Koa(), { warden })
  const route = ws as (...args: unknown[]) => unknown
  for (const args of [[], ['x'], [{ permissions: 'x' }, () => {}], ['x', () => {}]]) {
    t.throws(() => route(...args), { name: 'TypeError', message: /use ws\(/ })
  }
})

t.test('an upgraded socket keeps no listener of ours', async (t) => {
  // The WebSocket listens for the socket's errors itself; one of ours would stay for its life.
  const { router, ws, start, warden } = governed(t)
  let socket: Socket | undefined
  router.get(
    '/ws',
    ws((connection, ctx) => {
      socket = ctx.req.socket
      connection.send({ type: 'welcome' })
    }),
  )
  const base = await start()
  const client = await open(t, `${base}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
  t.ok(await client.next((m) => m.type === 'welcome'))
  const names = (event: string) => socket?.listeners(event).map((listener) => listener.name)
  t.notOk(names('error')?.includes('destroySocket'), 'no error listener of ours')
  t.notOk(names('close')?.includes('closedFirst'), 'no close listener of ours')
})
