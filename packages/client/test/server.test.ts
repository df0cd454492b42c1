// The client against a real ws-warden server over real sockets: reconnects, close codes, queue.
import t from 'tap'
import { CloseCode } from '@ws-warden/core'
import { QueueFullError } from '../src/index.js'
import { countingTimers, startClient, startServer, until } from './helpers/server.js'

t.test(
  'refused handshakes are retried with backoff, each attempt with a fresh token',
  async (t) => {
    const server = await startServer(t)
    const issued: string[] = []
    const { client, events } = startClient(t, {
      url: server.url,
      random: () => 0.5,
      backoff: { initialDelayMs: 100 },
      token: async () => {
        // The first attempt presents garbage, the second a token, the third the same one again.
        const token = issued.length === 0 ? 'not-a-jwt' : await server.token()
        issued.push(token)
        return token
      },
    })
    await until(() => client.state === 'open', 3_000, 'the second attempt to open')
    t.same(events.close, [{ code: 1006, reason: '', wasOpen: false, willRetry: true }])
    t.same(events.reconnecting, [{ attempt: 2, delayMs: 100 }], 'bound 200 ms after one failure')
    t.same(events.open, [{ attempt: 2, resuming: false }])
    t.equal(server.connections.length, 1)

    // The server drops it with "unauthorized, back off": the client comes back with a new token.
    await server.warden.disconnectUser('alice', CloseCode.Unauthorized, 'token_expired')
    await until(() => server.connections.length === 2, 3_000, 'a second connection')
    t.equal(issued.length, 3)
    t.equal(new Set(issued).size, 3, 'three attempts, three different tokens')
    t.same(events.close[1], { code: 4101, reason: 'token_expired', wasOpen: true, willRetry: true })
  },
)

t.test('a "do not reconnect" close from the server stops the client for good', async (t) => {
  const server = await startServer(t)
  let tokens = 0
  const timers = countingTimers()
  const { client, events } = startClient(t, {
    url: server.url,
    timers,
    token: () => {
      tokens++
      return server.token()
    },
  })
  await until(() => client.state === 'open')
  await server.warden.disconnectUser('alice', CloseCode.Forbidden, 'banned')
  await until(() => client.state === 'closed', 3_000, 'the client to stop')
  t.same(events.close, [{ code: 4003, reason: 'banned', wasOpen: true, willRetry: false }])
  t.same(events.reconnecting, [])
  t.equal(timers.pending, 0, 'no timer left: nothing can start another attempt')
  t.equal(tokens, 1)
  t.equal(client.send({ type: 'msg' }), false)
})

t.test(
  'messages sent while connecting wait in the bounded queue and arrive in order',
  async (t) => {
    const received: unknown[] = []
    const server = await startServer(t, {
      handlers: { msg: ({ message }) => void received.push(message.n) },
    })
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const { client, events } = startClient(t, {
      url: server.url,
      queue: { max: 3 },
      token: async () => {
        await gate
        return server.token()
      },
    })
    for (const n of [1, 2, 3, 4, 5]) t.equal(client.send({ type: 'msg', n }), true)
    t.equal(client.queued, 3)
    t.equal(events.error.length, 2)
    t.ok(events.error.every((error) => error instanceof QueueFullError))
    release()
    await until(() => received.length === 3, 3_000, 'three messages')
    t.same(received, [3, 4, 5], 'the oldest two were dropped; the rest kept their order')
    client.send({ type: 'msg', n: 6 })
    await until(() => received.length === 4)
    t.same(received, [3, 4, 5, 6])
  },
)

t.test('a server restart (1012) brings the client back at once to the new instance', async (t) => {
  const first = await startServer(t, { shutdown: { drainMs: 0 } })
  const port = Number(new URL(first.url).port)
  const { client, events } = startClient(t, {
    url: first.url,
    token: () => first.token(),
    backoff: { stableAfterMs: 0, immediateJitterMs: 50 },
  })
  await until(() => client.state === 'open')
  await first.stop()
  await until(() => events.close.length >= 1, 3_000, 'the close')
  t.equal(events.close[0]?.code, CloseCode.ServiceRestart)
  t.equal(events.close[0]?.willRetry, true)
  t.ok((events.reconnecting[0]?.delayMs ?? Infinity) < 50, 'reconnect now, after a small jitter')
  // Connection refused while the port is free: backoff, until the new instance listens.
  const second = await startServer(t, {}, port)
  await until(() => client.state === 'open', 5_000, 'the client on the new instance')
  t.equal(second.connections.length, 1)
})
