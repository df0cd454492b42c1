// Token expiry on live connections with in-band refresh, over real sockets. The warden's clock is
// shifted by the test (a token's lifetime passes in no time); heartbeats run on real short timers.
import t from 'tap'
import type { Principal, WardenOptions } from '../src/index.js'
import type { TokenStore } from '../src/stores.js'
import { createWarden } from '../src/index.js'
import { MemoryTokenStore } from '../src/stores.js'
import type { Client } from './helpers/server.js'
import { SECRET, startServer, until } from './helpers/server.js'

/** A clock the test moves forward. */
function shiftedClock() {
  let offset = 0
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) }
}

function options(clock: { now(): number }, extra: Partial<WardenOptions> = {}) {
  return {
    clock,
    refresh: { leadMs: 30_000, graceMs: 5_000 },
    heartbeat: { intervalMs: 30, timeoutMs: 15 },
    tokens: { secret: SECRET, ttlSeconds: 60 },
    ...extra,
  }
}

async function refreshRequest(client: Client, count = 1): Promise<Record<string, unknown>> {
  await until(() => client.ofType('$refresh').length >= count, 3_000)
  return client.ofType('$refresh')[count - 1]!
}

t.test('the server asks before expiry; a fresh token extends the connection', async (t) => {
  const clock = shiftedClock()
  const server = await startServer(t, options(clock))
  const client = await server.connect('alice')
  const connection = server.connections[0]!
  const firstExpiry = connection.tokenExpiresAt
  t.ok(Math.abs(firstExpiry - (clock.now() + 60_000)) < 2_000, 'the token expiry, from the token')

  clock.advance(29_000)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(client.ofType('$refresh'), [], 'not yet: 30 s before expiry at the earliest')
  clock.advance(2_000)
  const request = await refreshRequest(client)
  t.equal(request.expiresAt, firstExpiry)

  const { token, expiresAt } = await server.warden.issueToken({
    userId: 'alice',
    permissions: ['chat'],
  })
  client.send({ type: '$refresh', token })
  const refreshed = await client.next((m) => m.type === '$refreshed')
  t.equal(refreshed.expiresAt, expiresAt)
  t.equal(connection.tokenExpiresAt, expiresAt)
  t.same(connection.principal.permissions, ['chat'], 'the new principal, new permissions')

  clock.advance(40_000) // past the first token's expiry and grace
  await refreshRequest(client, 2) // the next cycle: proof the sweep ran and the connection lives
  t.equal(connection.open, true)
})

t.test('without a refresh the connection is closed with 4101 after the grace period', async (t) => {
  const clock = shiftedClock()
  const causes: string[] = []
  const server = await startServer(
    t,
    options(clock, { hooks: { onDisconnect: (_connection, info) => causes.push(info.cause) } }),
  )
  const client = await server.connect('alice')
  clock.advance(60_000)
  await refreshRequest(client)
  t.equal(server.connections[0]!.open, true, 'expired, but within the grace period')
  clock.advance(5_000)
  t.match(await client.closedWithin(3_000), { code: 4101, reason: 'token_expired' })
  await until(() => causes.length === 1)
  t.same(causes, ['expired'])
})

t.test('refused refreshes change nothing and are answered with an error frame', async (t) => {
  const clock = shiftedClock()
  const server = await startServer(t, options(clock))
  const client = await server.connect('alice')
  const connection = server.connections[0]!
  const expiry = connection.tokenExpiresAt
  const bob = await server.warden.issueToken({ userId: 'bob', permissions: [] })
  clock.advance(5_000)
  const used = await server.warden.issueToken({ userId: 'alice', permissions: [] })
  client.send({ type: '$refresh', token: used.token })
  await client.next((m) => m.type === '$refreshed')
  const attempts: [unknown, string][] = [
    [{ type: '$refresh', token: bob.token }, 'token_invalid'],
    [{ type: '$refresh', token: used.token }, 'token_replayed'],
    [{ type: '$refresh', token: 'not-a-jwt' }, 'token_invalid'],
    [{ type: '$refresh' }, 'bad_message'],
    [{ type: '$refresh', token: '' }, 'bad_message'],
  ]
  // One at a time: refreshes are checked concurrently, so answers may come in any order.
  for (const [frame, code] of attempts) {
    const before = client.ofType('error').length
    client.send(frame)
    await until(() => client.ofType('error').length > before)
    t.match(client.ofType('error').at(-1), { code, for: '$refresh' })
  }
  t.equal(connection.tokenExpiresAt, used.expiresAt, 'still the last accepted token')
  t.not(connection.tokenExpiresAt, expiry)
  t.equal(connection.userId, 'alice')
})

t.test('a refresh whose principal lost a required permission closes with 4003', async (t) => {
  const clock = shiftedClock()
  const server = await startServer(t, options(clock, { permissions: ['chat'] }))
  const client = await server.connect({ userId: 'alice', permissions: ['chat'] })
  const { token } = await server.warden.issueToken({ userId: 'alice', permissions: [] })
  client.send({ type: '$refresh', token })
  t.match(await client.closedWithin(), { code: 4003, reason: 'forbidden' })
})

t.test('onAdmit runs again at a refresh, with the original upgrade request', async (t) => {
  const clock = shiftedClock()
  const seen: [Principal, string][] = []
  const server = await startServer(
    t,
    options(clock, {
      hooks: {
        onAdmit: (principal, request) => {
          seen.push([principal, request.url.split('?')[0]!])
          return { ...principal, permissions: [...principal.permissions, 'enriched'] }
        },
      },
    }),
  )
  const client = await server.connect('alice')
  const connection = server.connections[0]!
  const { token } = await server.warden.issueToken({ userId: 'alice', permissions: ['new'] })
  client.send({ type: '$refresh', token })
  await client.next((m) => m.type === '$refreshed')
  t.equal(seen.length, 2)
  t.same(seen[1]![1], '/ws')
  t.same(connection.principal.permissions, ['new', 'enriched'])
})

t.test('admission and refresh name the token owner at every consume', async (t) => {
  const clock = shiftedClock()
  const store = new MemoryTokenStore()
  const calls: [string, string | undefined][] = []
  const tokens: TokenStore = {
    consume: (jti, expiresAt, owner) => (calls.push([jti, owner]), store.consume(jti, expiresAt)),
    sweep: (before) => store.sweep(before),
  }
  const server = await startServer(t, options(clock, { stores: { tokens } }))
  const client = await server.connect('alice')
  const { token } = await server.warden.issueToken({ userId: 'alice', permissions: [] })
  client.send({ type: '$refresh', token })
  await client.next((m) => m.type === '$refreshed')
  t.same(
    calls.map(([, owner]) => owner),
    ['alice', 'alice'],
    'the verified user, at the admission consume and at the refresh consume',
  )
  t.not(calls[0]![0], calls[1]![0], 'two tokens')
})

t.test('a token store that fails answers store_unavailable; the connection stays', async (t) => {
  const clock = shiftedClock()
  const errors: unknown[] = []
  const store = new MemoryTokenStore()
  let failing = false
  const tokens: TokenStore = {
    consume: (jti, expiresAt) =>
      failing ? Promise.reject(new Error('store down')) : store.consume(jti, expiresAt),
    sweep: (before) => store.sweep(before),
  }
  const server = await startServer(
    t,
    options(clock, { stores: { tokens }, hooks: { onError: (error) => errors.push(error) } }),
  )
  const client = await server.connect('alice')
  failing = true
  const { token } = await server.warden.issueToken({ userId: 'alice', permissions: [] })
  client.send({ type: '$refresh', token })
  const error = await client.next((m) => m.type === 'error')
  t.match(error, { code: 'store_unavailable', for: '$refresh' })
  await until(() => errors.length === 1)
  t.equal(server.connections[0]!.open, true)
})

t.test('a connection that closes while its refresh is checked is left alone', async (t) => {
  const clock = shiftedClock()
  let release: (principal: Principal) => void = () => {}
  let calls = 0
  const server = await startServer(
    t,
    options(clock, {
      hooks: {
        onAdmit: (principal) => {
          if (++calls === 1) return principal
          return new Promise<Principal>((resolve) => (release = resolve))
        },
      },
    }),
  )
  const client = await server.connect('alice')
  const connection = server.connections[0]!
  const { token } = await server.warden.issueToken({ userId: 'alice', permissions: ['x'] })
  client.send({ type: '$refresh', token })
  await until(() => calls === 2)
  client.socket.terminate()
  await until(() => !connection.open)
  release({ userId: 'alice', permissions: ['x'] })
  await new Promise((resolve) => setImmediate(resolve))
  t.same(connection.principal.permissions, [], 'unchanged')
})

t.test('a connection that closes while its refresh token is consumed: no onAdmit', async (t) => {
  const clock = shiftedClock()
  const store = new MemoryTokenStore()
  let hold: (() => void) | undefined
  let consuming = 0
  const tokens: TokenStore = {
    consume: async (jti, expiresAt) => {
      if (++consuming === 2) await new Promise<void>((resolve) => (hold = resolve))
      return store.consume(jti, expiresAt)
    },
    sweep: (before) => store.sweep(before),
  }
  let admits = 0
  const server = await startServer(
    t,
    options(clock, {
      stores: { tokens },
      hooks: {
        onAdmit: (principal) => {
          admits++
          return principal
        },
      },
    }),
  )
  const client = await server.connect('alice')
  const connection = server.connections[0]!
  const { token } = await server.warden.issueToken({ userId: 'alice', permissions: ['x'] })
  client.send({ type: '$refresh', token })
  await until(() => hold !== undefined)
  client.socket.terminate()
  await until(() => !connection.open)
  hold!()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(admits, 1, 'onAdmit ran for the admission only')
  t.same(connection.principal.permissions, [], 'unchanged')
})

t.test(
  'reserved frames: $ping is answered, others are unknown; handlers cannot take $ types',
  async (t) => {
    const server = await startServer(t)
    const client = await server.connect('alice')
    client.send({ type: '$ping' })
    await client.next((m) => m.type === '$pong')
    client.send({ type: '$refresh', token: 'x' })
    client.send({ type: '$whatever' })
    await until(() => client.ofType('error').length === 2)
    t.same(
      client.ofType('error').map((m) => [m.code, m.for]),
      [
        ['unknown_type', '$refresh'],
        ['unknown_type', '$whatever'],
      ],
      'refresh is off by default',
    )
    t.throws(() => createWarden({ tokens: { secret: SECRET }, handlers: { $ping: () => {} } }), {
      name: 'TypeError',
      message: /option handlers.\$ping: types starting with \$ are reserved/,
    })
  },
)

t.test('options: refresh needs heartbeats; bad values name the option', async (t) => {
  const tokens = { secret: SECRET }
  t.throws(() => createWarden({ tokens, refresh: true, heartbeat: false }), {
    name: 'TypeError',
    message: /option refresh needs heartbeats/,
  })
  t.throws(() => createWarden({ tokens, refresh: 1 as never }), /option refresh must be/)
  t.throws(() => createWarden({ tokens, refresh: { leadMs: -1 } }), /option refresh.leadMs/)
  t.throws(
    () => createWarden({ tokens, refresh: { graceMs: 'x' as never } }),
    /option refresh.graceMs/,
  )
  const warden = createWarden({ tokens, refresh: true })
  await warden.close()
})
