import t from 'tap'
import type { AdmissionStore, AdmitRequest, AdmitResult } from '../src/stores.js'
import { createWarden } from '../src/index.js'
import {
  ComposedAdmission,
  MemoryRateLimitStore,
  MemoryResumeStore,
  MemorySessionStore,
  MemoryTokenStore,
} from '../src/stores.js'
import { SECRET, startServer, until } from './helpers/server.js'

/** A one-trip admission store over memory stores that records what it was asked. */
function recordingAdmission() {
  const stores = {
    sessions: new MemorySessionStore(),
    tokens: new MemoryTokenStore(),
    rateLimits: new MemoryRateLimitStore(),
  }
  const composed = new ComposedAdmission(stores)
  const requests: AdmitRequest[] = []
  const calls = { hit: 0, consume: 0, add: 0 }
  const hit = stores.rateLimits.hit.bind(stores.rateLimits)
  stores.rateLimits.hit = (...args) => (calls.hit++, hit(...args))
  const consume = stores.tokens.consume.bind(stores.tokens)
  stores.tokens.consume = (...args) => (calls.consume++, consume(...args))
  const add = stores.sessions.add.bind(stores.sessions)
  stores.sessions.add = (...args) => (calls.add++, add(...args))
  let failWith: Error | undefined
  const admission: AdmissionStore = {
    ...stores,
    admit: async (request) => {
      requests.push(request)
      if (failWith) throw failWith
      return composed.admit(request)
    },
  }
  return {
    stores: { ...stores, admission },
    requests,
    calls,
    fail: (error: Error) => (failWith = error),
    close: () => Promise.all(Object.values(stores).map((store) => store.close())),
  }
}

t.test('a store with its own admit is asked once per handshake, with the session', async (t) => {
  const admission = recordingAdmission()
  t.teardown(admission.close)
  const { connect, warden } = await startServer(t, {
    stores: admission.stores,
    limits: { connectionsPerUser: 1 },
  })
  t.equal((await connect('alice')).status, 101)
  t.equal(admission.requests.length, 1, 'one call')
  const [request] = admission.requests as [AdmitRequest]
  t.same(
    request.attempts.map((a) => a.key),
    ['connect:ip:127.0.0.1', 'connect:user:alice'],
    'the IP is counted first, then the user',
  )
  t.equal(request.session?.record.userId, 'alice')
  t.equal(request.userId, 'alice', 'the verified user: the token owner')
  t.same(request.session?.caps, { perUser: 1, perIp: 100, total: 50_000 })
  t.equal(await admission.stores.sessions.count({ userId: 'alice' }), 1)
  t.equal((await connect('alice')).status, 429, 'the cap it was given holds')
  t.equal(admission.requests.length, 2)
  t.equal([...warden.connections()].length, 1)
})

t.test('a bad token never reaches admit: only its attempts are counted', async (t) => {
  const admission = recordingAdmission()
  t.teardown(admission.close)
  const { open, url } = await startServer(t, { stores: admission.stores })
  t.equal((await open(`${url}?ws_token=not-a-jwt`)).status, 401)
  t.equal(admission.requests.length, 0)
  t.same(admission.calls, { hit: 1, consume: 0, add: 0 }, 'the IP attempt, nothing else')
})

t.test('with an onAdmit hook the record is inserted after the hook', async (t) => {
  const admission = recordingAdmission()
  t.teardown(admission.close)
  const { connect } = await startServer(t, {
    stores: admission.stores,
    hooks: { onAdmit: (principal) => ({ ...principal, permissions: ['chat'] }) },
    permissions: ['chat'],
  })
  t.equal((await connect('alice')).status, 101, 'the hook granted what the token lacked')
  t.equal(admission.requests[0]?.session, undefined, 'admit only counted and consumed')
  t.same(admission.calls, { hit: 2, consume: 1, add: 1 })
})

t.test('a principal without the permissions: the token is used up, no session', async (t) => {
  const admission = recordingAdmission()
  t.teardown(admission.close)
  const { connect } = await startServer(t, { stores: admission.stores, permissions: ['chat'] })
  t.equal((await connect('alice')).status, 403)
  t.equal(admission.requests[0]?.session, undefined)
  t.same(admission.calls, { hit: 2, consume: 1, add: 0 })
})

t.test('a failing admit fails closed, named after the admission store', async (t) => {
  const admission = recordingAdmission()
  t.teardown(admission.close)
  const stores: string[] = []
  const { connect, warden } = await startServer(t, { stores: admission.stores })
  warden.observe({ storeError: (store) => stores.push(store) })
  admission.fail(new Error('connection reset'))
  t.equal((await connect('alice')).status, 503)
  t.same(stores, ['admission'])
})

t.test('an admission store over other stores than the warden was given is refused', async (t) => {
  const admission = recordingAdmission()
  t.teardown(admission.close)
  const sessions = new MemorySessionStore()
  t.throws(
    () => createWarden({ tokens: { secret: SECRET }, stores: { ...admission.stores, sessions } }),
    new TypeError(
      'ws-warden: stores.admission must work on the very stores given as stores.sessions, stores.tokens and stores.rateLimits',
    ),
  )
})

t.test('ComposedAdmission answers like the three calls in order', async (t) => {
  const stores = {
    sessions: new MemorySessionStore(),
    tokens: new MemoryTokenStore(),
    rateLimits: new MemoryRateLimitStore(),
  }
  t.teardown(() => Promise.all(Object.values(stores).map((store) => store.close())))
  const composed = new ComposedAdmission(stores)
  const record = (id: string, userId = 'alice') => ({
    id,
    userId,
    instanceId: 'i',
    ip: '10.0.0.1',
    channels: [],
    connectedAt: 1,
    lastSeenAt: 1,
  })
  const request = (jti: string, id: string, limit = 5): AdmitRequest => ({
    attempts: [
      { key: 'ip', limit },
      { key: 'user', limit: 2 },
    ],
    windowMs: 60_000,
    userId: 'alice',
    jti,
    tokenExpiresAt: Date.now() + 60_000,
    session: { record: record(id), caps: { perUser: 1 } },
  })
  const ok: AdmitResult = { ok: true }
  t.same(await composed.admit(request('j1', 'c1')), ok)
  t.same(await composed.admit(request('j1', 'c2')), { ok: false, reason: 'replayed' })
  t.equal(await stores.sessions.count(), 1, 'a replay inserts nothing')
  const full = await composed.admit(request('j3', 'c3'))
  t.match(full, { ok: false, reason: 'attempts', key: 'user' }, 'the third try of one user')
  t.equal(await stores.tokens.consume('j3', Date.now() + 60_000), true, 'its token is unused')
  t.same(await composed.admit({ ...request('j4', 'c4'), attempts: [] }), {
    ok: false,
    reason: 'limit',
    limit: 'user',
  })
  const { session: _session, ...countOnly } = request('j5', 'c5')
  t.same(await composed.admit({ ...countOnly, attempts: [] }), ok, 'no session: nothing inserted')
  t.equal(await stores.sessions.count(), 1)
})

t.test('with an onAdmit hook the caps still hold on the second trip', async (t) => {
  const { connect } = await startServer(t, {
    hooks: { onAdmit: (principal) => principal },
    limits: { connectionsPerUser: 1 },
  })
  t.equal((await connect('alice')).status, 101)
  t.equal((await connect('alice')).status, 429)
})

t.test('bad tokens count against their IP: over the limit, 429 whatever the token', async (t) => {
  const { open, url } = await startServer(t, { limits: { connectAttemptsPerIp: 2 } })
  t.equal((await open(`${url}?ws_token=bad`)).status, 401)
  t.equal((await open(`${url}?ws_token=bad`)).status, 401)
  const third = await open(`${url}?ws_token=bad`)
  t.equal(third.status, 429)
  t.ok(Number(third.retryAfter) > 0, 'with Retry-After')
})

interface SessionFrame {
  readonly id: string
  readonly resume: string
  readonly resumed: boolean
}

t.test('a resumption is claimed during the admission trip, not after it', async (t) => {
  const admission = recordingAdmission()
  t.teardown(admission.close)
  const resumes = new MemoryResumeStore()
  t.teardown(() => resumes.close())
  let claims = 0
  const claim = resumes.claim.bind(resumes)
  resumes.claim = (...args) => (claims++, claim(...args))
  const claimsAtAdmit: number[] = []
  const admit = admission.stores.admission.admit
  const stores = {
    ...admission.stores,
    resumes,
    admission: {
      ...admission.stores.admission,
      admit: (request: AdmitRequest) => (claimsAtAdmit.push(claims), admit(request)),
    },
  }
  const server = await startServer(t, { resumption: true, stores })
  const first = await server.connect('alice')
  const session = (await first.next((m) => m.type === '$session')) as unknown as SessionFrame
  first.socket.terminate()
  await until(() => !server.connections[0]!.open)
  const { token } = await server.warden.issueToken({ userId: 'alice', permissions: [] })
  const back = await server.open(
    `${server.url}?ws_token=${token}&ws_resume=${session.id}.${session.resume}`,
  )
  const resumed = (await back.next((m) => m.type === '$session')) as unknown as SessionFrame
  t.equal(resumed.resumed, true)
  t.same(claimsAtAdmit, [0, 1], 'the second admit found its claim already asked')
})

t.test('a refused admission gives back the session it claimed', async (t) => {
  const server = await startServer(t, { resumption: true })
  const used = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const first = await server.open(`${server.url}?ws_token=${used}`)
  const session = (await first.next((m) => m.type === '$session')) as unknown as SessionFrame
  first.socket.terminate()
  await until(() => !server.connections[0]!.open)
  const resume = `ws_resume=${session.id}.${session.resume}`
  t.equal((await server.open(`${server.url}?ws_token=${used}&${resume}`)).status, 401, 'replayed')
  const { token } = await server.warden.issueToken({ userId: 'alice', permissions: [] })
  const back = await server.open(`${server.url}?ws_token=${token}&${resume}`)
  const resumed = (await back.next((m) => m.type === '$session')) as unknown as SessionFrame
  t.equal(resumed.resumed, true, 'the credential still resumes')
  t.equal(resumed.id, session.id)
})

t.test('with an onAdmit hook the claim waits for the hook, and still resumes', async (t) => {
  const users: string[] = []
  const server = await startServer(t, {
    resumption: true,
    hooks: { onAdmit: (principal) => (users.push(principal.userId), principal) },
  })
  const first = await server.connect('alice')
  const session = (await first.next((m) => m.type === '$session')) as unknown as SessionFrame
  first.socket.terminate()
  await until(() => !server.connections[0]!.open)
  const { token } = await server.warden.issueToken({ userId: 'alice', permissions: [] })
  const back = await server.open(
    `${server.url}?ws_token=${token}&ws_resume=${session.id}.${session.resume}`,
  )
  t.equal(
    ((await back.next((m) => m.type === '$session')) as unknown as SessionFrame).resumed,
    true,
  )
  t.same(users, ['alice', 'alice'])
})

/** A store with admitMany over memory stores: the calls it got, and a switch to fail them. */
function batchingAdmission() {
  const stores = {
    sessions: new MemorySessionStore(),
    tokens: new MemoryTokenStore(),
    rateLimits: new MemoryRateLimitStore(),
  }
  const composed = new ComposedAdmission(stores)
  const calls: number[] = []
  let failWith: Error | undefined
  const admission: AdmissionStore = {
    ...stores,
    admit: () => Promise.reject(new Error('admit is not called when admitMany is there')),
    admitMany: async (requests) => {
      calls.push(requests.length)
      if (failWith) throw failWith
      // A store that takes a while, as a real one does: handshakes gather behind its calls.
      await new Promise((resolve) => setTimeout(resolve, 50))
      const answers: AdmitResult[] = []
      for (const request of requests) answers.push(await composed.admit(request))
      return answers
    },
    admitManyLimit: 8,
  }
  return {
    stores: { ...stores, admission },
    calls,
    fail: (error: Error) => (failWith = error),
    close: () => Promise.all(Object.values(stores).map((store) => store.close())),
  }
}

t.test('with admitMany, concurrent handshakes share calls, each with its own answer', async (t) => {
  const admission = batchingAdmission()
  t.teardown(admission.close)
  const { connect, warden } = await startServer(t, {
    stores: admission.stores,
    limits: { connectionsPerUser: 3 },
  })
  t.equal((await connect('alice')).status, 101, 'a lone handshake goes alone')
  t.same(admission.calls, [1])
  const statuses = (await Promise.all(Array.from({ length: 12 }, () => connect('bob')))).map(
    (client) => client.status,
  )
  t.same(
    statuses.sort(),
    [101, 101, 101, ...Array<number>(9).fill(429)],
    'the cap holds across and within calls',
  )
  t.ok(admission.calls.length < 13, `fewer calls than handshakes: ${admission.calls}`)
  t.ok(
    admission.calls.every((size) => size <= 8),
    'no call over admitManyLimit',
  )
  t.equal(
    admission.calls.reduce((a, b) => a + b, 0),
    13,
    'every handshake in exactly one call',
  )
  t.equal([...warden.connections()].length, 4)
})

t.test(
  'a failing admitMany fails its handshakes closed, named after the admission store',
  async (t) => {
    const admission = batchingAdmission()
    t.teardown(admission.close)
    const stores: string[] = []
    const { connect, warden } = await startServer(t, { stores: admission.stores })
    warden.observe({ storeError: (store) => stores.push(store) })
    admission.fail(new Error('connection reset'))
    t.equal((await connect('alice')).status, 503)
    t.same(stores, ['admission'])
  },
)
