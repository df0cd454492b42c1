import t from 'tap'
import type { WardenError } from '../src/index.js'
import type { RateLimitStore, SessionStore } from '../src/stores.js'
import { ForbiddenError } from '../src/index.js'
import { MemorySessionStore } from '../src/stores.js'
import { startManualServer, startServer, until } from './helpers/server.js'

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
  t.notOk(
    logged.some((line) => line.includes(token)),
    'no log line carries the token',
  )
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
  const { connect } = await startServer(t, {
    limits: { connectAttemptsPerUser: 2, connectionsPerUser: 5 },
  })
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
  const { connect, warden } = await startServer(t, {
    stores: { rateLimits: hanging },
    storeTimeoutMs: 50,
  })
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
  const { connect } = await startServer(t, {
    stores: { sessions: broken },
    hooks: { onError: (e) => errors.push(e) },
  })
  t.equal((await connect('alice')).status, 503)
  t.equal(errors.length, 1)
})

t.test('shutting down: new handshakes get 503', async (t) => {
  const errors: unknown[] = []
  const { connect, warden } = await startServer(t, { hooks: { onError: (e) => errors.push(e) } })
  t.equal(warden.isClosing, false)
  await warden.close()
  t.equal(warden.isClosing, true)
  const client = await connect('alice')
  t.equal(client.status, 503)
  t.equal(client.retryAfter, '5')
  t.same(errors, [], 'a refusal by design is not an error')
})

t.test('a ticket that is never attached is released and frees its slot', async (t) => {
  const sessions = new MemorySessionStore()
  const { warden } = await startServer(t, { stores: { sessions } })
  const { token } = await warden.issueToken({ userId: 'alice', permissions: [] })
  const admission = await warden.admit({
    url: `/ws?ws_token=${token}`,
    headers: {},
    remoteAddress: '10.0.0.1',
  })
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

t.test('endpoint permissions apply on top of the warden-wide ones', async (t) => {
  const sessions = new MemorySessionStore()
  const { warden } = await startServer(t, { permissions: ['chat.read'], stores: { sessions } })
  const endpoint = { permissions: ['chat.moderate'] }
  const admit = async (permissions: string[]) => {
    const { token } = await warden.issueToken({ userId: 'mod', permissions })
    return warden.admit(
      { url: `/ws?ws_token=${token}`, headers: {}, remoteAddress: '10.0.0.3' },
      endpoint,
    )
  }
  const reader = await admit(['chat.read'])
  t.equal(reader.ok, false)
  if (!reader.ok) t.match(reader.error, { code: 'forbidden', status: 403, closeCode: 4003 })
  const moderatorOnly = await admit(['chat.moderate'])
  t.equal(moderatorOnly.ok, false, 'the warden-wide permission is still required')
  const both = await admit(['chat.read', 'chat.moderate'])
  t.equal(both.ok, true)
  t.equal(await sessions.count(), 1, 'only the admitted request holds a reservation')
  if (both.ok) both.ticket.release()
})

t.test('a query string without ws_token is a missing token', async (t) => {
  const rejected: string[] = []
  const { open, url } = await startServer(t, {
    hooks: { onReject: ({ error }) => rejected.push(error.code) },
  })
  t.equal((await open(`${url}?room=lobby`)).status, 401)
  t.same(rejected, ['token_missing'])
})

t.test('an onAdmit hook that crashes: 500, and the crash reaches onError', async (t) => {
  const crash = new Error('profile service down')
  const errors: unknown[] = []
  const rejected: WardenError[] = []
  const { connect, warden } = await startServer(t, {
    hooks: {
      onAdmit: () => {
        throw crash
      },
      onReject: ({ error }) => rejected.push(error),
      onError: (error) => errors.push(error),
    },
  })
  const client = await connect('alice')
  t.equal(client.status, 500)
  t.equal(client.retryAfter, undefined)
  t.match(rejected, [{ code: 'internal', status: 500, closeCode: 1011, message: 'internal error' }])
  t.equal(errors.length, 1)
  t.equal(errors[0], rejected[0], 'the wrapped error, its cause attached')
  t.equal(rejected[0]?.cause, crash)
  t.equal([...warden.connections()].length, 0)
})

t.test('attach takes only the ticket admission handed out, and only once', async (t) => {
  const sessions = new MemorySessionStore()
  const { admit, pair, warden } = await startManualServer(t, { stores: { sessions } })

  await t.test('a released ticket: closed with 4101', async (t) => {
    const admission = await admit('alice')
    if (!admission.ok) throw admission.error
    admission.ticket.release()
    const { client, socket } = await pair()
    t.equal(warden.attach(socket, admission.ticket), undefined)
    t.same(await client.closed, { code: 4101, reason: 'ticket_expired' })
    t.equal(await sessions.count({ userId: 'alice' }), 0)
  })

  await t.test('a copy of a live ticket: refused, and the real one still attaches', async (t) => {
    const admission = await admit('bob')
    if (!admission.ok) throw admission.error
    const forged = { ...admission.ticket }
    const first = await pair()
    t.equal(warden.attach(first.socket, forged), undefined)
    t.equal((await first.client.closed).code, 4101)
    const second = await pair()
    const connection = warden.attach(second.socket, admission.ticket)
    t.equal(connection?.userId, 'bob')
    t.equal(warden.attach(second.socket, admission.ticket), undefined, 'a ticket attaches once')
    t.equal(warden.get(admission.ticket.id), connection)
    t.equal(await sessions.count({ userId: 'bob' }), 1)
  })
})

t.test('shutdown releases the tickets still waiting for their upgrade', async (t) => {
  const sessions = new MemorySessionStore()
  const { admit, pair, warden } = await startManualServer(t, { stores: { sessions } })
  const admission = await admit('alice')
  if (!admission.ok) throw admission.error
  t.equal(await sessions.count(), 1)
  await warden.close()
  t.equal(await sessions.count(), 0, 'the reservation is gone')
  const { client, socket } = await pair()
  t.equal(warden.attach(socket, admission.ticket), undefined)
  t.same(await client.closed, { code: 1012, reason: 'shutting_down' })
})

t.test('a handshake admitted while shutdown begins is closed with 1012', async (t) => {
  const sessions = new MemorySessionStore()
  let opened: () => void = () => {}
  const gate = new Promise<void>((resolve) => (opened = resolve))
  let adding = false
  const add = sessions.add.bind(sessions)
  sessions.add = async (record, caps) => {
    adding = true
    await gate
    return add(record, caps)
  }
  const { connect, warden } = await startServer(t, { stores: { sessions } })
  const connecting = connect('alice')
  await until(() => adding)
  const closing = warden.close()
  opened()
  const client = await connecting
  t.same(await client.closed, { code: 1012, reason: 'shutting_down' })
  await closing
  await until(async () => (await sessions.count()) === 0)
  t.equal([...warden.connections()].length, 0, 'it never became a connection')
})

t.test('releasing a ticket after it was attached changes nothing', async (t) => {
  const sessions = new MemorySessionStore()
  const { admit, pair, warden } = await startManualServer(t, { stores: { sessions } })
  const admission = await admit('alice')
  t.ok(admission.ok)
  if (!admission.ok) return
  const { socket } = await pair()
  t.ok(warden.attach(socket, admission.ticket))
  admission.ticket.release()
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await sessions.count({ userId: 'alice' }), 1, 'the live session keeps its record')
  t.equal(warden.connectionsOf('alice').size, 1)
})
