import t from 'tap'
import type { Test } from 'tap'
import type { WardenOptions } from '@ws-warden/core'
import type { WardenRouteOptions } from '../src/index.js'
import { wardenFastify } from '../src/index.js'
import { MemorySessionStore } from '@ws-warden/core/stores'
import { once } from 'node:events'
import http from 'node:http'
import type { Socket } from 'node:net'
import { testApp, testWarden, tokenFor, until } from './helpers.js'

/** An app with one governed route, `/ws`, listening. */
async function governed(
  t: Test,
  options: Partial<WardenOptions> = {},
  route: true | WardenRouteOptions = true,
) {
  const warden = testWarden(t, options)
  const { app, listen, open } = testApp(t)
  await app.register(wardenFastify, { warden })
  app.get('/ws', { websocket: true, warden: route }, () => {})
  const base = await listen()
  const url = `${base}/ws`
  const connect = async (who: Parameters<typeof tokenFor>[1] = 'alice', headers = {}) =>
    open(`${url}?ws_token=${await tokenFor(warden, who)}`, { headers })
  return { app, warden, url, open, connect }
}

t.test('every admission failure is an HTTP answer before the upgrade', async (t) => {
  t.test('missing token: 401', async (t) => {
    const { open, url } = await governed(t)
    const client = await open(url)
    t.equal(client.status, 401)
    t.same(client.body, { error: 'token_missing' })
    t.equal(client.retryAfter, undefined)
  })

  t.test('bad token: 401', async (t) => {
    const { open, url } = await governed(t)
    const client = await open(`${url}?ws_token=not.a.token`)
    t.equal(client.status, 401)
    t.same(client.body, { error: 'token_invalid' })
  })

  t.test('replayed token: 401', async (t) => {
    const { open, url, warden } = await governed(t)
    const address = `${url}?ws_token=${await tokenFor(warden, 'alice')}`
    t.equal((await open(address)).status, 101)
    const replay = await open(address)
    t.equal(replay.status, 401)
    t.same(replay.body, { error: 'token_replayed' })
  })

  t.test('origin not on the allow-list: 403', async (t) => {
    const { connect } = await governed(t, { origins: ['https://chat.example'] })
    const client = await connect('alice', { origin: 'https://evil.example' })
    t.equal(client.status, 403)
    t.same(client.body, { error: 'origin_not_allowed' })
    t.equal((await connect('alice', { origin: 'https://chat.example' })).status, 101)
  })

  t.test('a permission the endpoint requires is missing: 403', async (t) => {
    const { connect } = await governed(t, {}, { permissions: ['chat.read'] })
    const denied = await connect({ userId: 'alice', permissions: ['other'] })
    t.equal(denied.status, 403)
    t.same(denied.body, { error: 'forbidden' })
    t.equal((await connect({ userId: 'bob', permissions: ['chat.read'] })).status, 101)
  })

  t.test('the 21st attempt in a minute from one IP: 429 with Retry-After', async (t) => {
    const { open, url } = await governed(t)
    for (let attempt = 1; attempt <= 20; attempt++) {
      const client = await open(url)
      t.equal(client.status, 401, `attempt ${attempt} is counted but not limited`)
    }
    const limited = await open(url)
    t.equal(limited.status, 429)
    t.same(limited.body, { error: 'rate_limited' })
    const seconds = Number(limited.retryAfter)
    t.ok(
      Number.isInteger(seconds) && seconds >= 1 && seconds <= 60,
      `Retry-After ${limited.retryAfter}`,
    )
  })

  t.test('one connection too many for the user: 429', async (t) => {
    const { connect } = await governed(t, { limits: { connectionsPerUser: 2 } })
    t.equal((await connect('alice')).status, 101)
    t.equal((await connect('alice')).status, 101)
    const third = await connect('alice')
    t.equal(third.status, 429)
    t.same(third.body, { error: 'connection_limit' })
    t.equal(third.retryAfter, undefined)
    t.equal((await connect('bob')).status, 101, 'other users are not affected')
  })

  t.test('shutting down: 503 with Retry-After', async (t) => {
    const { connect, warden } = await governed(t)
    await warden.close()
    const client = await connect('alice')
    t.equal(client.status, 503)
    t.same(client.body, { error: 'shutting_down' })
    t.equal(client.retryAfter, '5')
  })
})

t.test('a plain GET on a governed route is a 404 and consumes nothing', async (t) => {
  const { app, warden } = await governed(t)
  const token = await tokenFor(warden, 'alice')
  const response = await app.inject({ method: 'GET', url: `/ws?ws_token=${token}` })
  t.equal(response.statusCode, 404)
  t.equal((await warden.stats()).cluster.connections, 0)
})

t.test('getUserId names the user before the token does', async (t) => {
  const warden = testWarden(t)
  const { app, listen, open } = testApp(t)
  await app.register(wardenFastify, {
    warden,
    getUserId: async (request) => request.headers['x-user'] as string | undefined,
  })
  app.get('/ws', { websocket: true, warden: true }, () => {})
  const url = `${await listen()}/ws`
  const token = await tokenFor(warden, 'alice')
  const stolen = await open(`${url}?ws_token=${token}`, { headers: { 'x-user': 'mallory' } })
  t.equal(stolen.status, 401, 'a token issued to someone else is refused')
  t.same(stolen.body, { error: 'token_invalid' })
  const own = await open(`${url}?ws_token=${await tokenFor(warden, 'alice')}`, {
    headers: { 'x-user': 'alice' },
  })
  t.equal(own.status, 101)
})

t.test('an upgrade that fails after admission releases its reservation at once', async (t) => {
  const sessions = new MemorySessionStore()
  const added: string[] = []
  const removed: string[] = []
  const add = sessions.add.bind(sessions)
  sessions.add = async (record, caps) => {
    added.push(record.id)
    return add(record, caps)
  }
  const remove = sessions.remove.bind(sessions)
  sessions.remove = async (id) => {
    removed.push(id)
    return remove(id)
  }
  const warden = testWarden(t, { stores: { sessions } })
  const { app, listen } = testApp(t)
  await app.register(wardenFastify, { warden })
  let handled = false
  app.get('/ws', { websocket: true, warden: true }, () => {
    handled = true
  })
  const url = new URL(`${await listen()}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
  // Admission passes; then ws refuses the handshake (a malformed key) with a 400.
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
  t.equal(added.length, 1, 'admission reserved a session')
  await until(() => removed.length === 1)
  t.same(removed, added, 'the reservation is removed, not left to expire')
  t.notOk(handled)
})

t.test('an attached connection keeps no listener of ours on its raw socket', async (t) => {
  // A listener left there would stay (with what it holds) for the connection's whole life.
  const warden = testWarden(t)
  const { app, listen, open } = testApp(t)
  await app.register(wardenFastify, { warden })
  let raw: Socket | undefined
  app.get('/ws', { websocket: true, warden: true }, (connection, request) => {
    raw = request.raw.socket
    connection.send({ type: 'welcome' })
  })
  const client = await open(`${await listen()}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
  t.equal(client.status, 101)
  await until(() => raw !== undefined)
  const ours = raw?.listeners('close').filter((listener) => listener.name === 'releaseUnattached')
  t.same(ours, [], 'the pre-attach close listener was removed')
})

t.test(
  'after admission, the request holds no credential and not the bytes it was read in',
  async (t) => {
    const warden = testWarden(t)
    const { app, listen, open } = testApp(t)
    await app.register(wardenFastify, { warden })
    const seen: { url: string; query: unknown; head: boolean }[] = []
    const heads = new Set<Buffer>()
    app.get('/ws', { websocket: true, warden: true }, (_connection, request) => {
      const raw = request.raw as unknown as Record<symbol, unknown>
      const kept = Object.getOwnPropertySymbols(raw).some((key) => heads.has(raw[key] as Buffer))
      seen.push({ url: request.url, query: request.query, head: kept })
    })
    const base = await listen()
    // Heard after @fastify/websocket's own listener, with the same head.
    app.server.on('upgrade', (_request: unknown, _socket: unknown, head: Buffer) => heads.add(head))
    const token = await tokenFor(warden, 'alice')
    t.equal((await open(`${base}/ws?ws_token=${token}&ws_resume=s.c&x=1`)).status, 101)
    await until(() => seen.length === 1)
    t.same(seen, [
      {
        url: '/ws?ws_token=[redacted]&ws_resume=[redacted]&x=1',
        query: { ws_token: '[redacted]', ws_resume: '[redacted]', x: '1' },
        head: false,
      },
    ])
    t.equal(heads.size, 1, 'the head was heard')
  },
)
