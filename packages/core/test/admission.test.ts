import t from 'tap'
import type { RateLimitStore, SessionStore } from '../src/index.js'
import { MemorySessionStore, ForbiddenError } from '../src/index.js'
import { startServer } from './helpers/server.js'

t.test('a valid token connects; the session is recorded in the store', async (t) => {
  const sessions = new MemorySessionStore()
  const { connect, warden } = await startServer(t, { stores: { sessions } })
  const client = await connect('alice')
  t.equal(client.status, 101)
  t.equal(await sessions.count({ userId: 'alice' }), 1)
  t.equal([...warden.connections()].length, 1)
})

t.test('missing, invalid and replayed tokens get 401 before the upgrade', async (t) => {
  const { open, url, warden } = await startServer(t)
  t.equal((await open(url)).status, 401, 'missing token')
  t.equal((await open(`${url}?ws_token=not-a-jwt`)).status, 401, 'malformed token')
  const { token } = await warden.issueToken({ userId: 'alice', permissions: [] })
  t.equal((await open(`${url}?ws_token=${token}`)).status, 101, 'first use')
  t.equal((await open(`${url}?ws_token=${token}`)).status, 401, 'replay')
  t.equal([...warden.connections()].length, 1, 'rejections left no connection')
})

t.test('the reason code reaches onReject; the token never does', async (t) => {
  const rejected: string[] = []
  const logged: string[] = []
  const logger = {
    debug: (o: object) => logged.push(JSON.stringify(o)),
    info: (o: object) => logged.push(JSON.stringify(o)),
    warn: (o: object) => logged.push(JSON.stringify(o)),
    error: (o: object) => logged.push(JSON.stringify(o)),
    child: () => logger,
  }
  const { open, url, warden } = await startServer(t, {
    logger,
    hooks: { onReject: ({ error }) => rejected.push(error.code) },
  })
  const { token } = await warden.issueToken({ userId: 'alice', permissions: [] })
  await open(`${url}?ws_token=${token}`)
  await open(`${url}?ws_token=${token}`)
  await open(`${url}?ws_token=${token}x`)
  t.same(rejected, ['token_replayed', 'token_invalid'])
  t.ok(logged.length > 0)
  t.notOk(logged.some((line) => line.includes(token)), 'no log line carries the token')
})

t.test('origin allow-list: exact match, a missing Origin is allowed', async (t) => {
  const { connect } = await startServer(t, { origins: ['https://chat.example'] })
  t.equal((await connect('a', { origin: 'https://evil.example' })).status, 403)
  t.equal((await connect('a', { origin: 'https://chat.example.evil.example' })).status, 403)
  t.equal((await connect('b', { origin: 'https://chat.example' })).status, 101)
  t.equal((await connect('c')).status, 101)
})

t.test('endpoint permissions and the onAdmit hook', async (t) => {
  const { connect } = await startServer(t, {
    permissions: ['chat.read'],
    hooks: {
      onAdmit: (principal) => {
        if (principal.userId === 'banned') throw new ForbiddenError('banned')
        return { ...principal, claims: { enriched: true } }
      },
    },
  })
  t.equal((await connect({ userId: 'a', permissions: [] })).status, 403)
  t.equal((await connect({ userId: 'banned', permissions: ['chat.read'] })).status, 403)
  t.equal((await connect({ userId: 'b', permissions: ['chat.read'] })).status, 101)
})

t.test('the 21st attempt from one IP within a minute gets 429 with Retry-After', async (t) => {
  const { open, url, connect } = await startServer(t)
  for (let attempt = 1; attempt <= 19; attempt++) {
    t.equal((await open(`${url}?ws_token=bad`)).status, 401, `failed attempt ${attempt} counts`)
  }
  t.equal((await connect('alice')).status, 101, 'the 20th attempt is still allowed')
  const limited = await connect('bob')
  t.equal(limited.status, 429, 'the 21st is refused, even with a good token')
  t.ok(Number(limited.retryAfter) >= 1 && Number(limited.retryAfter) <= 60)
})

t.test('connect attempts per user are limited too', async (t) => {
  const { connect } = await startServer(t, { limits: { connectAttemptsPerUser: 2, connectionsPerUser: 5 } })
  t.equal((await connect('alice')).status, 101)
  t.equal((await connect('alice')).status, 101)
  t.equal((await connect('alice')).status, 429)
  t.equal((await connect('bob')).status, 101)
})

t.test('connection caps per user, per IP and in total', async (t) => {
  await t.test('per user: 429', async (t) => {
    const { connect } = await startServer(t, {
      limits: { connectionsPerUser: 2, connectAttemptsPerIp: 1000, connectAttemptsPerUser: 1000 },
    })
    t.equal((await connect('alice')).status, 101)
    const second = await connect('alice')
    t.equal(second.status, 101)
    t.equal((await connect('alice')).status, 429)
    t.equal((await connect('bob')).status, 101, 'other users are unaffected')
    second.socket.close()
    await second.closed
    // The removal is asynchronous; a new connection is admitted once it has run.
    let status = 0
    for (let i = 0; i < 50 && status !== 101; i++) {
      status = (await connect('alice')).status ?? 0
    }
    t.equal(status, 101, 'a freed slot is usable again')
  })
  await t.test('per IP: 429', async (t) => {
    const { connect } = await startServer(t, { limits: { connectionsPerIp: 1 } })
    t.equal((await connect('alice')).status, 101)
    t.equal((await connect('bob')).status, 429)
  })
  await t.test('total: 503 server full', async (t) => {
    const { connect } = await startServer(t, { limits: { maxConnections: 1 } })
    t.equal((await connect('alice')).status, 101)
    const full = await connect('bob')
    t.equal(full.status, 503)
    t.equal(full.retryAfter, '5')
  })
})

t.test('a store that hangs fails closed with 503 within the store timeout', async (t) => {
  const hanging: RateLimitStore = {
    hit: () => new Promise(() => {}),
    sweep: async () => 0,
  }
  const { connect, warden } = await startServer(t, { stores: { rateLimits: hanging }, storeTimeoutMs: 50 })
  const client = await connect('alice')
  t.equal(client.status, 503)
  t.equal([...warden.connections()].length, 0)
})

t.test('a store that throws fails closed with 503 and reports the error', async (t) => {
  const errors: unknown[] = []
  const sessions = new MemorySessionStore()
  const broken: SessionStore = Object.assign(Object.create(sessions) as SessionStore, {
    add: async () => {
      throw new Error('connection refused')
    },
  })
  const { connect } = await startServer(t, { stores: { sessions: broken }, hooks: { onError: (e) => errors.push(e) } })
  t.equal((await connect('alice')).status, 503)
  t.equal(errors.length, 1)
})

t.test('shutting down: new handshakes get 503', async (t) => {
  const { connect, warden } = await startServer(t)
  await warden.close()
  const client = await connect('alice')
  t.equal(client.status, 503)
})

t.test('a ticket that is never attached is released and frees its slot', async (t) => {
  const sessions = new MemorySessionStore()
  const { warden } = await startServer(t, { stores: { sessions } })
  const { token } = await warden.issueToken({ userId: 'alice', permissions: [] })
  const admission = await warden.admit({ url: `/ws?ws_token=${token}`, headers: {}, remoteAddress: '10.0.0.1' })
  t.ok(admission.ok)
  t.equal(await sessions.count(), 1)
  if (admission.ok) admission.ticket.release()
  await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(await sessions.count(), 0)
})

t.test('an already-authenticated user must match the token', async (t) => {
  const { warden } = await startServer(t)
  const { token } = await warden.issueToken({ userId: 'alice', permissions: [] })
  const admission = await warden.admit({
    url: `/ws?ws_token=${token}`,
    headers: {},
    remoteAddress: '10.0.0.2',
    userId: 'mallory',
  })
  t.equal(admission.ok, false)
  if (!admission.ok) t.equal(admission.error.code, 'token_invalid')
})
