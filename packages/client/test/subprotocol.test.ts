// The subprotocol the client offers (`ws-warden.v1`, then the application's), the version it
// reports, and how it copes with a server that selects none: over fake sockets, then real ones.
import t from 'tap'
import { fakeClient, flush } from './helpers/fake.js'
import { startClient, startServer, until } from './helpers/server.js'

async function connected(fake: ReturnType<typeof fakeClient>, protocol: string) {
  await flush()
  const socket = fake.last()
  socket.protocol = protocol
  socket.open()
  return socket
}

/** Runs the next timer (the retry), then lets the new attempt fetch its token. */
async function retry(fake: ReturnType<typeof fakeClient>) {
  const at = fake.timers.nextAt
  if (at === undefined) throw new Error('no timer pending')
  fake.timers.advance(at - fake.timers.time)
  await flush()
}

t.test('offers ws-warden.v1 by default and reports the version selected', async (t) => {
  const fake = fakeClient()
  t.equal(fake.client.protocolVersion, undefined, 'nothing negotiated before a connection')
  const socket = await connected(fake, 'ws-warden.v1')
  t.same(socket.protocols, ['ws-warden.v1'])
  t.equal(fake.client.protocolVersion, 1)
  socket.end(1006)
  t.equal(fake.client.protocolVersion, 1, "the last connection's, after it ended")
  fake.client.close()
})

t.test("the app's own subprotocols follow, without a second ws-warden.v1", async (t) => {
  const fake = fakeClient({ protocols: ['ws-warden.v1', 'chat'] })
  t.same((await connected(fake, 'ws-warden.v1')).protocols, ['ws-warden.v1', 'chat'])
  fake.client.close()
  const single = fakeClient({ protocols: 'chat' })
  t.same((await connected(single, 'chat')).protocols, ['ws-warden.v1', 'chat'])
  t.equal(single.client.protocolVersion, 0, "the app's subprotocol: no ws-warden version")
  single.client.close()
})

t.test('a server that selects none (a browser accepts it): version 0, still offered', async (t) => {
  const fake = fakeClient()
  const first = await connected(fake, '')
  t.equal(fake.client.state, 'open')
  t.equal(fake.client.protocolVersion, 0)
  first.end(1006)
  await retry(fake)
  const second = await connected(fake, 'ws-warden.v1')
  t.same(second.protocols, ['ws-warden.v1'], 'offered again: the server may have been upgraded')
  t.equal(fake.client.protocolVersion, 1)
  fake.client.close()
})

t.test(
  "ws refuses a handshake that selected none: the next attempt doesn't offer it",
  async (t) => {
    for (const [protocols, next] of [
      [undefined, undefined],
      [['chat'], ['chat']],
    ] as const) {
      const fake = fakeClient(protocols ? { protocols: [...protocols] } : {})
      await flush()
      const first = fake.last()
      t.same(first.protocols, ['ws-warden.v1', ...(protocols ?? [])])
      first.failHandshake('Server sent no subprotocol')
      t.match(fake.events.close, [{ code: 1006, wasOpen: false, willRetry: true }])
      await retry(fake)
      const second = await connected(fake, '')
      t.same(second.protocols, next, 'only the application subprotocols, if any')
      t.equal(fake.client.protocolVersion, 0)
      second.end(1006)
      await retry(fake)
      t.same(fake.last().protocols, next, 'for the rest of the client’s life')
      fake.client.close()
    }
  },
)

t.test('other handshake errors, and those of a socket let go, change nothing', async (t) => {
  const fake = fakeClient({ connectTimeoutMs: 1_000 })
  await flush()
  const abandoned = fake.last()
  fake.timers.advance(1_000) // the attempt times out; its socket is let go
  await retry(fake)
  abandoned.error('Server sent no subprotocol')
  const refused = fake.last()
  t.not(refused, abandoned)
  refused.error() // an implementation that dispatches no event object
  refused.failHandshake('Unexpected server response: 401')
  await retry(fake)
  t.same((await connected(fake, 'ws-warden.v1')).protocols, ['ws-warden.v1'])
  fake.client.close()
})

t.test('real sockets: a ws-warden server selects ws-warden.v1', async (t) => {
  const server = await startServer(t, { resumption: true })
  const { client, events } = startClient(t, {
    url: server.url,
    token: () => server.token(),
    protocols: ['chat'],
  })
  await until(() => events.session.length === 1, 3_000, 'the session')
  t.equal(client.protocolVersion, 1)
  t.same(events.open, [{ attempt: 1, resuming: false }])
})

t.test('real sockets: a server that selects none, through ws in Node', async (t) => {
  const server = await startServer(t, {}, 0, { handleProtocols: () => false })
  const { client, events } = startClient(t, {
    url: server.url,
    token: () => server.token(),
    backoff: { initialDelayMs: 20 },
  })
  await until(() => client.state === 'open', 3_000, 'the second attempt to open')
  t.match(events.close, [{ code: 1006, wasOpen: false, willRetry: true }], 'ws refused the first')
  t.equal(client.protocolVersion, 0)
  // The server had upgraded the first attempt (ws cut it on the client side): its token is spent.
  await until(() => server.connections[0]?.open === false, 3_000, 'the cut connection to end')
  t.same(
    server.connections.map((connection) => connection.open),
    [false, true],
  )
})
