import t from 'tap'
import type { Test } from 'tap'
import type { ErrorRequestHandler, Request } from 'express'
import express from 'express'
import { createServer } from 'node:http'
import type { ServerOptions } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { WardenExpressOptions } from '../src/index.js'
import { wardenExpress } from '../src/index.js'
import WebSocket from 'ws'
import { Client, listen, open, testWarden, tokenFor, until } from './helpers.js'

/** An Express app governed by a fresh warden, on its own server. */
function governed(
  t: Test,
  options: Partial<WardenExpressOptions> = {},
  serverOptions: ServerOptions = {},
) {
  const warden = testWarden(t)
  const server = createServer(serverOptions)
  const result = wardenExpress(express(), { warden, server, ...options })
  server.on('request', result.app)
  return { warden, server, ...result }
}

t.test('your middleware runs before admission and answers with its own status', async (t) => {
  const { app, server, warden } = governed(t)
  app.use((request, response, next) => {
    if (request.headers.authorization === 'Bearer ok') return next()
    response.status(401).json({ error: 'login first' })
  })
  app.ws('/ws', (connection) => void connection.send({ type: 'welcome' }))
  const base = await listen(t, server)
  const token = await tokenFor(warden, 'alice')
  const refused = await open(t, `${base}/ws?ws_token=${token}`)
  t.equal(refused.status, 401)
  t.same(refused.body, { error: 'login first' }, "the app's own answer, before any upgrade")
  const client = await open(t, `${base}/ws?ws_token=${token}`, {
    headers: { authorization: 'Bearer ok' },
  })
  t.equal(client.status, 101, 'the token was not consumed by the refused attempt')
  t.ok(await client.next((m) => m.type === 'welcome'))
})

t.test('a rejection is an Express response: status, JSON body, Retry-After', async (t) => {
  const { app, server } = governed(t, {}, {})
  const statuses: number[] = []
  app.use((_request, response, next) => {
    response.on('finish', () => statuses.push(response.statusCode))
    next()
  })
  app.ws('/ws', () => {})
  const base = await listen(t, server)
  for (let attempt = 1; attempt <= 20; attempt++) await open(t, `${base}/ws`)
  const limited = await open(t, `${base}/ws`)
  t.equal(limited.status, 429)
  t.same(limited.body, { error: 'rate_limited' })
  t.match(limited.retryAfter, /^\d+$/)
  await until(() => statuses.length === 21)
  t.same(new Set(statuses), new Set([401, 429]), "every answer went through the app's response")
})

t.test('route middleware runs for upgrades only; a plain GET reaches your page', async (t) => {
  const { app, server, warden } = governed(t)
  const seen: string[] = []
  app.ws(
    '/chat',
    (request, _response, next) => {
      seen.push(request.method)
      next()
    },
    (connection, request) => void connection.send({ type: 'welcome', path: request.path }),
  )
  app.get('/chat', (_request, response) => void response.send('the chat page'))
  const base = await listen(t, server)
  const page = await fetch(`${base.replace('ws:', 'http:')}/chat`)
  t.equal(await page.text(), 'the chat page')
  const client = await open(t, `${base}/chat?ws_token=${await tokenFor(warden, 'alice')}`)
  t.same(await client.next((m) => m.type === 'welcome'), { type: 'welcome', path: '/chat' })
  t.same(seen, ['GET'], 'once, for the upgrade')
})

t.test('a route without middleware lets a plain GET through to your page too', async (t) => {
  const { app, server, warden } = governed(t)
  app.ws('/chat', (connection) => void connection.send({ type: 'welcome' }))
  app.get('/chat', (_request, response) => void response.send('the chat page'))
  const base = await listen(t, server)
  const page = await fetch(`${base.replace('ws:', 'http:')}/chat`)
  t.equal(await page.text(), 'the chat page', 'skipped: nothing consumed, nothing upgraded')
  const client = await open(t, `${base}/chat?ws_token=${await tokenFor(warden, 'alice')}`)
  t.ok(await client.next((m) => m.type === 'welcome'), 'the upgrade is still governed')
})

t.test('getUserId reads what your middleware authenticated', async (t) => {
  const { app, server, warden } = governed(t, {
    getUserId: (request) => (request as Request & { user?: string }).user,
  })
  app.use((request, _response, next) => {
    Object.assign(request, { user: request.headers['x-user'] })
    next()
  })
  app.ws('/ws', () => {})
  const base = await listen(t, server)
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

t.test('routers: applyTo adds ws to express.Router(), with options and params', async (t) => {
  const { app, server, warden, applyTo } = governed(t)
  const router = applyTo(express.Router())
  router.ws('/rooms/:room', { permissions: ['chat'] }, (connection, request) => {
    connection.send({ type: 'welcome', room: request.params.room })
  })
  app.use('/api', router)
  const base = await listen(t, server)
  const denied = await open(t, `${base}/api/rooms/a?ws_token=${await tokenFor(warden, 'u')}`)
  t.equal(denied.status, 403)
  const chat = { userId: 'u', permissions: ['chat'] }
  const client = await open(t, `${base}/api/rooms/lobby?ws_token=${await tokenFor(warden, chat)}`)
  t.same(await client.next((m) => m.type === 'welcome'), { type: 'welcome', room: 'lobby' })
})

t.test(
  'the token never reaches middleware or access logs; they see 101 or the status',
  async (t) => {
    const { app, server, warden } = governed(t)
    const logged: string[] = []
    app.use((request, response, next) => {
      response.on('finish', () => logged.push(`${response.statusCode} ${request.originalUrl}`))
      next()
    })
    app.ws('/ws', () => {})
    const base = await listen(t, server)
    const token = await tokenFor(warden, 'alice')
    t.equal((await open(t, `${base}/ws?ws_token=${token}&x=1`)).status, 101)
    t.equal((await open(t, `${base}/ws?ws_token=${token}`)).status, 401)
    await until(() => logged.length === 2)
    t.same(logged, ['101 /ws?ws_token=[redacted]&x=1', '401 /ws?ws_token=[redacted]'])
  },
)

t.test("a handler that throws closes with 1011 and reaches the app's error handler", async (t) => {
  const { app, server, warden } = governed(t)
  const errors: string[] = []
  app.ws('/ws', async () => {
    throw new Error('boom')
  })
  const onError: ErrorRequestHandler = (error: Error, _request, _response, next) => {
    errors.push(error.message)
    next()
  }
  app.use(onError)
  const client = await open(
    t,
    `${await listen(t, server)}/ws?ws_token=${await tokenFor(warden, 'a')}`,
  )
  t.equal((await client.closed).code, 1011)
  await until(() => errors.length === 1)
  t.same(errors, ['boom'])
})

t.test('a socket error while your middleware runs does not crash the process', async (t) => {
  const { app, server, warden } = governed(t)
  app.use((request) => void request.socket.emit('error', new Error('read ECONNRESET')))
  app.ws('/ws', () => {})
  const client = await open(
    t,
    `${await listen(t, server)}/ws?ws_token=${await tokenFor(warden, 'a')}`,
  )
  t.not(client.status, 101, 'the socket was dropped')
  t.equal((await warden.stats()).cluster.connections, 0)
})

t.test("app.listen()'s server is governed, and its close() shuts the warden down", async (t) => {
  const warden = testWarden(t)
  const { app } = wardenExpress(express(), { warden })
  app.ws('/ws', () => {})
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
  const { app, server, warden } = governed(
    t,
    {},
    {
      headersTimeout: 100,
      requestTimeout: 150,
      connectionsCheckingInterval: 25,
    },
  )
  app.ws('/ws', () => {})
  const client = await open(
    t,
    `${await listen(t, server)}/ws?ws_token=${await tokenFor(warden, 'a')}`,
  )
  t.equal(client.status, 101)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(client.socket.readyState, client.socket.OPEN, 'still open after several checks')
})

t.test('ws options: the warden sets the limits, yours are passed on', async (t) => {
  const { app, server, warden, getWss } = governed(t, {
    wsOptions: { handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false) },
  })
  app.ws('/ws', () => {})
  t.equal(getWss().options.maxPayload, 65_536)
  t.equal(getWss().options.perMessageDeflate, false)
  const base = await listen(t, server)
  const socket = new WebSocket(`${base}/ws?ws_token=${await tokenFor(warden, 'a')}`, 'chat.v1')
  t.teardown(() => socket.terminate())
  const client = await Client.start(socket)
  t.equal(client.status, 101)
  t.equal(socket.protocol, 'chat.v1')
})

t.test('options are validated with errors that name them', async (t) => {
  const warden = testWarden(t)
  const shared = createServer()
  wardenExpress(express(), { warden, server: shared })
  t.throws(
    () => wardenExpress(express(), { warden, server: shared }),
    /already routes its upgrades/,
  )
  const cases: [unknown, RegExp][] = [
    [undefined, /option warden must be a Warden/],
    [{ warden: {} }, /option warden must be a Warden/],
    [{ warden, getUserId: 'alice' }, /option getUserId must be a function/],
  ]
  for (const [options, message] of cases) {
    t.throws(() => wardenExpress(express(), options as WardenExpressOptions), {
      name: 'TypeError',
      message,
    })
  }
  const { app } = wardenExpress(express(), { warden })
  t.throws(() => wardenExpress(app, { warden }), /already has a ws method/)
  const route = app.ws as (...args: unknown[]) => unknown
  for (const args of [['/a'], ['/a', { permissions: 'x' }, () => {}], ['/a', 'x', () => {}]]) {
    t.throws(() => route.apply(app, args), { name: 'TypeError', message: /route \/a: use ws/ })
  }
})

t.test('an open connection does not keep its upgrade request (or response) alive', async (t) => {
  // A listener left on the socket must not hold the upgrade's scope: the request, the response
  // and what Express hung on them would stay in memory for the connection's whole life.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const { app, server, warden } = governed(t)
  let request: WeakRef<Request> | undefined
  let response: WeakRef<object> | undefined
  app.ws('/ws', (connection, req) => {
    request = new WeakRef(req)
    response = new WeakRef(req.res as object)
    connection.send({ type: 'welcome' })
  })
  const base = await listen(t, server)
  const client = await open(t, `${base}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
  t.ok(await client.next((m) => m.type === 'welcome'))
  // The handler's own promise chain lets go of the request a few turns after it returned.
  await until(() => {
    gc()
    return request?.deref() === undefined && response?.deref() === undefined
  })
  t.equal(request?.deref(), undefined, 'the request was collected')
  t.equal(response?.deref(), undefined, 'the response was collected')
  t.equal([...warden.connections()].length, 1, 'while the connection is open')
})

t.test('an upgraded socket keeps no listener of ours', async (t) => {
  // The WebSocket listens for the socket's errors itself; one of ours would stay for its life.
  const { app, server, warden } = governed(t)
  let socket: Request['socket'] | undefined
  app.ws('/ws', (connection, req) => {
    socket = req.socket
    connection.send({ type: 'welcome' })
  })
  const base = await listen(t, server)
  const client = await open(t, `${base}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
  t.ok(await client.next((m) => m.type === 'welcome'))
  const names = (event: string) => socket?.listeners(event).map((listener) => listener.name)
  t.notOk(names('error')?.includes('destroySocket'), 'no error listener of ours')
  t.notOk(names('close')?.includes('closedFirst'), 'no close listener of ours')
})
