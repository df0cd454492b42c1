import { MemorySessionStore } from '@ws-warden/core/stores'
import { once } from 'node:events'
import http from 'node:http'
import { eachAdapter, start, tokenFor, until } from '../harness.js'

eachAdapter((t, adapter) => {
  t.test('a valid token connects; the handler gets the connection and its request', async (t) => {
    const sessions = new MemorySessionStore()
    const { connect, warden } = await start(t, adapter, { stores: { sessions } })
    const client = await connect('alice')
    t.equal(client.status, 101)
    t.same(await client.next((m) => m.type === 'welcome'), {
      type: 'welcome',
      user: 'alice',
      path: '/ws',
    })
    t.same(
      [...warden.connections()].map((c) => c.userId),
      ['alice'],
    )
    t.equal(await sessions.count({ userId: 'alice' }), 1, 'the session is in the store')
  })

  t.test('no token: 401 token_missing', async (t) => {
    const { open } = await start(t, adapter)
    const client = await open('/ws')
    t.equal(client.status, 401)
    t.same(client.body, { error: 'token_missing' })
    t.equal(client.retryAfter, undefined)
  })

  t.test('a malformed or forged token: 401 token_invalid', async (t) => {
    const { open, warden } = await start(t, adapter)
    t.same((await open('/ws?ws_token=not.a.token')).body, { error: 'token_invalid' })
    const forged = `${await tokenFor(warden, 'alice')}x`
    const client = await open(`/ws?ws_token=${forged}`)
    t.equal(client.status, 401)
    t.same(client.body, { error: 'token_invalid' })
  })

  t.test('an expired token: 401 token_expired', async (t) => {
    let skew = 0
    const clock = { now: () => Date.now() + skew }
    const { open, warden } = await start(t, adapter, {
      clock,
      tokens: { secret: 'an-e2e-test-secret-that-is-at-least-32-bytes', clockToleranceSeconds: 0 },
    })
    const token = await tokenFor(warden, 'alice')
    skew = 61_000
    const client = await open(`/ws?ws_token=${token}`)
    t.equal(client.status, 401)
    t.same(client.body, { error: 'token_expired' })
  })

  t.test('a token is single use: the replay gets 401 token_replayed', async (t) => {
    const { open, warden } = await start(t, adapter)
    const path = `/ws?ws_token=${await tokenFor(warden, 'alice')}`
    t.equal((await open(path)).status, 101)
    const replay = await open(path)
    t.equal(replay.status, 401)
    t.same(replay.body, { error: 'token_replayed' })
    t.equal([...warden.connections()].length, 1, 'the replay left no connection')
  })

  t.test('an Origin off the allow-list: 403 origin_not_allowed', async (t) => {
    const { connect } = await start(t, adapter, { origins: ['https://chat.example'] })
    const evil = await connect('alice', { origin: 'https://evil.example' })
    t.equal(evil.status, 403)
    t.same(evil.body, { error: 'origin_not_allowed' })
    t.equal((await connect('alice', { origin: 'https://chat.example' })).status, 101)
    t.equal((await connect('bob')).status, 101, 'no Origin (not a browser) is allowed')
  })

  t.test('a missing permission: 403 forbidden, warden-wide and per route', async (t) => {
    const { connect } = await start(t, adapter, { permissions: ['chat'] })
    const none = await connect({ userId: 'u', permissions: [] })
    t.equal(none.status, 403)
    t.same(none.body, { error: 'forbidden' })
    t.equal((await connect({ userId: 'u', permissions: ['chat'] })).status, 101)
    const notStaff = await connect({ userId: 'u', permissions: ['chat'] }, {}, '/staff')
    t.equal(notStaff.status, 403, "the route's own permission")
    t.same(notStaff.body, { error: 'forbidden' })
    const member = await connect({ userId: 's', permissions: ['chat', 'staff'] }, {}, '/staff')
    t.equal(member.status, 101)
    t.equal((await member.next((m) => m.type === 'welcome')).path, '/staff')
  })

  t.test('the 21st attempt in a minute from one IP: 429 rate_limited + Retry-After', async (t) => {
    const { open, connect } = await start(t, adapter)
    for (let attempt = 1; attempt <= 19; attempt++) {
      t.equal((await open('/ws')).status, 401, `failed attempt ${attempt} is counted`)
    }
    t.equal((await connect('alice')).status, 101, 'the 20th attempt is allowed')
    const limited = await connect('bob')
    t.equal(limited.status, 429, 'the 21st is refused, even with a good token')
    t.same(limited.body, { error: 'rate_limited' })
    const seconds = Number(limited.retryAfter)
    t.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60, `Retry-After: ${seconds}`)
  })

  t.test('attempts per user: 429 rate_limited + Retry-After', async (t) => {
    const { connect } = await start(t, adapter, { limits: { connectAttemptsPerUser: 2 } })
    t.equal((await connect('alice')).status, 101)
    t.equal((await connect('alice')).status, 101)
    const limited = await connect('alice')
    t.equal(limited.status, 429)
    t.same(limited.body, { error: 'rate_limited' })
    t.ok(Number(limited.retryAfter) >= 1)
    t.equal((await connect('bob')).status, 101, 'other users are not affected')
  })

  t.test('one connection too many for the user: 429 connection_limit', async (t) => {
    const { connect } = await start(t, adapter, { limits: { connectionsPerUser: 2 } })
    t.equal((await connect('alice')).status, 101)
    const second = await connect('alice')
    t.equal(second.status, 101)
    const third = await connect('alice')
    t.equal(third.status, 429)
    t.same(third.body, { error: 'connection_limit' })
    t.equal(third.retryAfter, undefined, 'a cap frees up on its own time')
    t.equal((await connect('bob')).status, 101, 'other users are not affected')
    second.socket.close()
    await second.closed
    let status: number | undefined
    await until(async () => (status = (await connect('alice')).status) === 101)
    t.equal(status, 101, 'a freed slot is usable again')
  })

  t.test('the server is full: 503 server_full + Retry-After', async (t) => {
    const { connect } = await start(t, adapter, { limits: { maxConnections: 1 } })
    t.equal((await connect('alice')).status, 101)
    const full = await connect('bob')
    t.equal(full.status, 503)
    t.same(full.body, { error: 'server_full' })
    t.equal(full.retryAfter, '5')
  })

  t.test('shutting down: 503 shutting_down + Retry-After', async (t) => {
    const { connect, warden } = await start(t, adapter)
    await warden.close()
    const client = await connect('alice')
    t.equal(client.status, 503)
    t.same(client.body, { error: 'shutting_down' })
    t.equal(client.retryAfter, '5')
  })

  t.test('a plain GET on a governed route is a 404 and consumes nothing', async (t) => {
    const { http: base, open, warden } = await start(t, adapter)
    const token = await tokenFor(warden, 'alice')
    const response = await fetch(`${base}/ws?ws_token=${token}`)
    t.equal(response.status, 404)
    await response.arrayBuffer()
    t.equal((await warden.stats()).cluster.connections, 0)
    t.equal((await open(`/ws?ws_token=${token}`)).status, 101, 'the token is still unused')
  })

  t.test('an upgrade on an unknown path is a 404, not left hanging', async (t) => {
    const { open, warden } = await start(t, adapter)
    const client = await open(`/nowhere?ws_token=${await tokenFor(warden, 'alice')}`)
    t.equal(client.status, 404)
  })

  t.test('an upgrade that fails after admission releases its reservation', async (t) => {
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
    const { url, warden } = await start(t, adapter, { stores: { sessions } })
    const target = new URL(`${url}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
    // Admission passes; then ws refuses the handshake (a malformed key) with a 400.
    const request = http.get({
      host: target.hostname,
      port: target.port,
      path: target.pathname + target.search,
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
    t.equal([...warden.connections()].length, 0)
  })
})
