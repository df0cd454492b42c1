// The client against real servers: transparent resumption (same instance, another instance,
// stolen credentials) and in-band token refresh.
import t from 'tap'
import WebSocket from 'ws'
import type { WardenOptions } from '@ws-warden/core'
import {
  MemoryBroker,
  MemoryHistoryStore,
  MemoryResumeStore,
  MemorySessionStore,
} from '@ws-warden/core/stores'
import type { Envelope, WebSocketConstructor } from '../src/index.js'
import { TokenProviderError } from '../src/index.js'
import { startClient, startServer, until } from './helpers/server.js'

const handlers: NonNullable<WardenOptions['handlers']> = {
  async join({ connection, message, warden, reply }) {
    await warden.join(connection, message.channel as string)
    reply({ type: 'joined', channel: message.channel })
  },
}

/** A gate the token provider waits on, so that the test decides when a reconnect happens. */
function gate() {
  let open: () => void = () => {}
  let promise = Promise.resolve()
  return {
    close: () => {
      promise = new Promise<void>((resolve) => (open = resolve))
    },
    open: () => open(),
    wait: () => promise,
  }
}

const texts = (messages: Envelope[]) => messages.filter((m) => m.type === 'm').map((m) => m.text)

t.test('resume: the missed messages arrive in order, once, then live ones', async (t) => {
  const server = await startServer(t, { resumption: true, handlers })
  const reconnect = gate()
  const { client, events } = startClient(t, {
    url: server.url,
    backoff: { initialDelayMs: 50 },
    token: async () => {
      await reconnect.wait()
      return server.token()
    },
  })
  client.on('session', ({ resumed }) => {
    if (!resumed) client.send({ type: 'join', channel: 'room' })
  })
  await until(() => events.message.some((m) => m.type === 'joined'), 3_000, 'the join')
  await server.warden.toChannel('room', { type: 'm', text: 'one' })
  await until(() => texts(events.message).length === 1)

  reconnect.close()
  await server.warden.disconnectUser('alice', 4100, 'go away for a bit') // "backoff": resumable
  await until(() => client.state !== 'open')
  await server.warden.toChannel('room', { type: 'm', text: 'two' })
  await server.warden.toChannel('room', { type: 'm', text: 'three' })
  reconnect.open()

  await until(() => events.resumed.length === 1, 3_000, 'the resumption')
  t.same(events.resumed, [{ complete: true, missed: 2, channels: ['room'] }])
  t.same(
    events.open.map((e) => e.resuming),
    [false, true],
  )
  await server.warden.toChannel('room', { type: 'm', text: 'four' })
  await until(() => texts(events.message).length === 4)
  t.same(texts(events.message), ['one', 'two', 'three', 'four'], 'in order, nothing twice')
  t.equal(events.message.filter((m) => m.type === 'joined').length, 1, 'no rejoin needed')
})

t.test('resume on another instance after the first was killed', async (t) => {
  const stores = {
    sessions: new MemorySessionStore(),
    history: new MemoryHistoryStore(),
    resumes: new MemoryResumeStore(),
    broker: new MemoryBroker(),
  }
  const a = await startServer(t, { resumption: true, handlers, stores })
  const b = await startServer(t, { resumption: true, handlers, stores })
  let target = a
  const reconnect = gate()
  const { client, events } = startClient(t, {
    url: () => target.url,
    backoff: { initialDelayMs: 50 },
    token: async () => {
      await reconnect.wait()
      return target.token()
    },
  })
  client.on('session', ({ resumed }) => {
    if (!resumed) client.send({ type: 'join', channel: 'room' })
  })
  await until(() => events.message.some((m) => m.type === 'joined'), 3_000, 'the join')
  reconnect.close()
  target = b
  await a.kill()
  await b.warden.toChannel('room', { type: 'm', text: 'while a was down' })
  reconnect.open()
  await until(() => events.resumed.length === 1, 5_000, 'the resumption on b')
  t.same(events.resumed, [{ complete: true, missed: 1, channels: ['room'] }])
  t.same(texts(events.message), ['while a was down'])
  t.equal(b.connections.length, 1)
  t.same([...b.connections[0]!.channels], ['room'])
})

/** `ws`'s WebSocket, keeping every `$session` frame it receives (the test plays the thief). */
function recording(sessions: Record<string, unknown>[]): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url)
      this.on('message', (data) => {
        const frame = JSON.parse(String(data)) as Record<string, unknown>
        if (frame.type === '$session') sessions.push(frame)
      })
    }
  } as unknown as WebSocketConstructor
}

/** Presents a resume credential from a raw socket; resolves the `$session` it gets. */
async function present(url: string, token: string, frame: Record<string, unknown>) {
  const socket = new WebSocket(
    `${url}?ws_token=${token}&ws_resume=${String(frame.id)}.${String(frame.resume)}`,
  )
  try {
    return await new Promise<Record<string, unknown>>((resolve, reject) => {
      socket.on('message', (data) => resolve(JSON.parse(String(data)) as Record<string, unknown>))
      socket.on('error', reject)
    })
  } finally {
    socket.terminate()
  }
}

t.test('a stolen credential is refused, whoever presents it second', async (t) => {
  const server = await startServer(t, { resumption: true, handlers })
  const seen: Record<string, unknown>[] = []
  const reconnect = gate()
  const { client, events } = startClient(t, {
    url: server.url,
    WebSocket: recording(seen),
    backoff: { initialDelayMs: 50 },
    token: async () => {
      await reconnect.wait()
      return server.token()
    },
  })
  await until(() => events.session.length === 1)
  const first = seen[0]!

  // The owner resumes first: the thief who replays the same credential gets a fresh session.
  await server.warden.disconnectUser('alice', 4100)
  await until(() => events.resumed.length === 1, 3_000, 'the owner resuming')
  const thief = await present(server.url, await server.token(), first)
  t.match(thief, { type: '$session', resumed: false })
  t.not(thief.id, first.id)

  // The thief comes first with the owner's current credential: the owner starts fresh.
  reconnect.close()
  await server.warden.disconnectUser('alice', 4100)
  await until(() => client.state !== 'open')
  const stolen = await present(server.url, await server.token(), seen.at(-1)!)
  t.match(stolen, { type: '$session', resumed: true })
  reconnect.open()
  await until(() => events.session.length === 3, 3_000, 'the owner back')
  t.match(events.session.at(-1), { resumed: false })
  t.not(events.session.at(-1)?.id, first.id)
  t.equal(events.resumed.length, 1)
})

/** A clock the test moves forward, for the server. */
function shiftedClock() {
  let offset = 0
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) }
}

t.test(
  'a refresh extends the connection; without one it is closed, and the client reconnects',
  async (t) => {
    const clock = shiftedClock()
    const server = await startServer(t, {
      clock,
      refresh: { leadMs: 30_000, graceMs: 5_000 },
      heartbeat: { intervalMs: 30, timeoutMs: 15 },
    })
    let refuse = false
    let refreshes = 0
    const { client, events } = startClient(t, {
      url: server.url,
      backoff: { initialDelayMs: 50 },
      token: () => server.token(),
      refreshToken: async () => {
        refreshes++
        if (refuse) throw new Error('logged out')
        return server.token()
      },
    })
    await until(() => client.state === 'open')
    clock.advance(31_000)
    await until(() => events.refreshed.length === 1, 3_000, 'the first refresh')
    clock.advance(40_000) // past the first token's expiry and grace: alive thanks to the refresh
    await until(() => events.refreshed.length === 2, 3_000, 'the second refresh')
    t.equal(events.close.length, 0)
    t.equal(server.connections.length, 1)

    refuse = true
    clock.advance(40_000) // asked again: the refresh provider fails
    await until(() => events.error.length === 1, 3_000, 'the failed refresh')
    t.equal(client.state, 'open', 'still within its token and grace')
    clock.advance(30_000)
    await until(() => events.close.length === 1, 3_000, 'the close')
    t.same(events.close[0], { code: 4101, reason: 'token_expired', wasOpen: true, willRetry: true })
    t.ok(events.error.some((error) => error instanceof TokenProviderError))
    t.equal(refreshes, 3)
    await until(() => server.connections.length === 2, 3_000, 'a new connection with a fresh token')
    await until(() => client.state === 'open')
  },
)
