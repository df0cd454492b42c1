import t from 'tap'
import { decodePositions } from '@ws-warden/protocol'
import {
  BadFrameError,
  ClientClosedError,
  ConnectError,
  QueueFullError,
  RefreshRefusedError,
  TokenProviderError,
  WardenClient,
} from '../src/index.js'
import { fakeClient, flush } from './helpers/fake.js'

/** Runs the next timer (the retry), then lets the new attempt fetch its token. */
async function retry(fake: ReturnType<typeof fakeClient>) {
  const at = fake.timers.nextAt
  if (at === undefined) throw new Error('no timer pending')
  fake.timers.advance(at - fake.timers.time)
  await flush()
}

/** Opens the latest attempt's socket once its token has been fetched. */
async function connected(fake: ReturnType<typeof fakeClient>) {
  await flush()
  const socket = fake.last()
  socket.open()
  return socket
}

t.test('every attempt fetches a fresh token and appends it to the URL', async (t) => {
  const fake = fakeClient({ url: 'ws://example.test/ws?room=1', protocols: ['chat'] })
  const first = await connected(fake)
  t.equal(first.query.get('ws_token'), 'token-1')
  t.equal(first.query.get('room'), '1', 'the URL keeps its own query')
  t.same(first.protocols, ['ws-warden.v1', 'chat'], "the ws-warden subprotocol, then the app's")
  t.equal(fake.client.state, 'open')
  t.same(fake.events.open, [{ attempt: 1, resuming: false }])
  first.end(1006)
  fake.timers.advance(1_000)
  const second = await connected(fake)
  t.not(second, first)
  t.equal(second.query.get('ws_token'), 'token-2')
  t.equal(first.listenerCount, 0, 'the old socket is let go')
  fake.client.close()
})

t.test('a "do not reconnect" close stops for good', async (t) => {
  for (const code of [4003, 4000, 4099, 1000, 1008]) {
    const fake = fakeClient()
    const socket = await connected(fake)
    socket.end(code, 'forbidden')
    t.equal(fake.client.state, 'closed', `${code}`)
    t.same(fake.events.close, [{ code, reason: 'forbidden', wasOpen: true, willRetry: false }])
    t.equal(fake.events.reconnecting, undefined)
    t.equal(fake.timers.size, 0, 'no timer left')
    fake.timers.advance(3_600_000)
    await flush()
    t.equal(fake.sockets.length, 1, 'never retried')
  }
})

t.test('"backoff" closes wait a full-jitter delay that grows and is capped', async (t) => {
  const fake = fakeClient({
    random: () => 1 - Number.EPSILON,
    backoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
  })
  await flush()
  const delays: number[] = []
  for (let i = 0; i < 6; i++) {
    fake.last().end(4101) // refused at the handshake: never opened
    const event = fake.events.reconnecting?.at(-1)
    delays.push(event?.delayMs ?? -1)
    t.equal(event?.attempt, i + 2)
    t.equal(fake.client.state, 'waiting')
    fake.timers.advance(event?.delayMs ?? 0)
    await flush()
    t.equal(fake.sockets.length, i + 2, 'the next attempt starts once the delay has passed')
  }
  t.same(delays, [199, 399, 799, 999, 999, 999])
  t.same(
    fake.events.close?.map((event) => event.willRetry),
    [true, true, true, true, true, true],
  )
  fake.client.close()
})

t.test('the delay is drawn in [0, bound): the timer fires at that delay, not before', async (t) => {
  const fake = fakeClient({ random: () => 0.25, backoff: { initialDelayMs: 1_000 } })
  const socket = await connected(fake)
  fake.timers.advance(10_000) // stable
  socket.end(1006)
  t.equal(fake.events.reconnecting?.[0]?.delayMs, 250)
  fake.timers.advance(249)
  await flush()
  t.equal(fake.sockets.length, 1)
  fake.timers.advance(1)
  await flush()
  t.equal(fake.sockets.length, 2)
  fake.client.close()
})

t.test(
  '"now" after a stable connection waits only a small jitter; a stable connection resets the count',
  async (t) => {
    const fake = fakeClient({
      random: () => 1 - Number.EPSILON,
      backoff: { initialDelayMs: 100, immediateJitterMs: 50, stableAfterMs: 1_000 },
    })
    await flush()
    fake.last().end(1006)
    fake.timers.advance(200)
    await flush()
    fake.last().end(1006)
    t.same(
      fake.events.reconnecting?.map((event) => event.delayMs),
      [199, 399],
    )
    fake.timers.advance(400)
    const socket = await connected(fake)
    t.same(fake.events.open?.at(-1), { attempt: 3, resuming: false })
    fake.timers.advance(1_000)
    socket.end(1012, 'restart')
    t.equal(fake.events.reconnecting?.at(-1)?.delayMs, 49, 'service restart: reconnect now')
    fake.timers.advance(49)
    const next = await connected(fake)
    t.same(fake.events.open?.at(-1), { attempt: 1, resuming: false }, 'the count started over')
    next.end(4200) // reconnect now, but the connection was not stable
    t.equal(fake.events.reconnecting?.at(-1)?.delayMs, 199, 'an unstable connection backs off')
    fake.client.close()
  },
)

t.test('maxAttempts consecutive failures end the client', async (t) => {
  const fake = fakeClient({ maxAttempts: 3 })
  for (let i = 0; i < 3; i++) {
    await flush()
    fake.last().end(1006)
    if (fake.client.state === 'waiting') await retry(fake)
  }
  t.equal(fake.sockets.length, 3)
  t.equal(fake.client.state, 'closed')
  t.same(
    fake.events.close?.map((event) => event.willRetry),
    [true, true, false],
  )
})

t.test(
  'an attempt that does not open within connectTimeoutMs is abandoned and retried',
  async (t) => {
    const fake = fakeClient({ connectTimeoutMs: 5_000 })
    await flush()
    const socket = fake.last()
    fake.timers.advance(4_999)
    t.equal(fake.client.state, 'connecting')
    fake.timers.advance(1)
    t.ok(socket.closedWith, 'the hanging socket is closed')
    t.equal(socket.listenerCount, 0)
    t.same(fake.events.close, [
      { code: 1006, reason: 'connect timeout', wasOpen: false, willRetry: true },
    ])
    socket.open() // too late: ignored
    t.equal(fake.client.state, 'waiting')
    t.equal(fake.events.open, undefined)
    fake.client.close()
  },
)

t.test(
  'a token provider that hangs is bounded by connectTimeoutMs; its late token is ignored',
  async (t) => {
    let release: (token: string) => void = () => {}
    let calls = 0
    const fake = fakeClient({
      connectTimeoutMs: 1_000,
      token: () => {
        calls++
        return new Promise<string>((resolve) => (release = resolve))
      },
    })
    await flush()
    fake.timers.advance(1_000)
    t.equal(fake.events.close?.[0]?.reason, 'connect timeout')
    release('late')
    await flush()
    t.equal(fake.sockets.length, 0, 'no socket for a token that came too late')
    await retry(fake)
    t.equal(calls, 2, 'the next attempt asks again')
    fake.client.close()
  },
)

t.test('a token provider that fails after close() is ignored', async (t) => {
  const fake = fakeClient({ token: () => Promise.reject(new Error('offline')) })
  fake.client.close()
  await flush()
  t.equal(fake.events.error, undefined)
  t.equal(fake.events.close?.length, 1)
})

t.test('a failing token provider is an error event and a failed attempt', async (t) => {
  const failures = [new Error('401 from the token endpoint'), '']
  for (const outcome of failures) {
    const fake = fakeClient({
      token: () => {
        if (outcome instanceof Error) throw outcome
        return outcome
      },
    })
    await flush()
    const error = fake.events.error?.[0]
    t.type(error, TokenProviderError)
    t.equal(error?.code, 'token_provider')
    if (outcome instanceof Error) t.equal(error?.cause, outcome)
    t.same(fake.events.close, [
      { code: 1006, reason: 'token provider failed', wasOpen: false, willRetry: true },
    ])
    t.equal(fake.client.state, 'waiting')
    t.equal(fake.sockets.length, 0)
    fake.client.close()
  }
})

t.test('a URL that cannot be opened is a ConnectError and a failed attempt', async (t) => {
  const fake = fakeClient({
    url: () => {
      throw new Error('no endpoint configured')
    },
  })
  await flush()
  t.type(fake.events.error?.[0], ConnectError)
  t.equal(fake.events.close?.[0]?.reason, 'connect failed')
  fake.client.close()
})

t.test('close() stops for good, at any stage', async (t) => {
  t.test('while open', async (t) => {
    const fake = fakeClient()
    const socket = await connected(fake)
    fake.client.close(4000, 'bye')
    t.same(socket.closedWith, { code: 4000, reason: 'bye' })
    t.same(fake.events.close, [{ code: 4000, reason: 'bye', wasOpen: true, willRetry: false }])
    socket.end(4000, 'bye')
    t.equal(fake.events.close?.length, 1, 'the socket close that follows is not reported twice')
    fake.client.close()
    t.equal(fake.events.close?.length, 1, 'idempotent')
    t.equal(fake.timers.size, 0)
    t.equal(fake.client.send({ type: 'x' }), false, 'nothing is sent or queued once closed')
    t.equal(fake.client.queued, 0)
    t.throws(() => fake.client.connect(), ClientClosedError)
  })
  t.test('while waiting to retry', async (t) => {
    const fake = fakeClient()
    await flush()
    fake.last().end(1006)
    fake.client.close()
    t.equal(fake.timers.size, 0)
    fake.timers.advance(60_000)
    await flush()
    t.equal(fake.sockets.length, 1)
  })
  t.test('while the token is being fetched', async (t) => {
    const fake = fakeClient()
    fake.client.close()
    await flush()
    t.equal(fake.sockets.length, 0, 'the token that arrives is not used')
    t.same(fake.events.close, [{ code: 1000, reason: '', wasOpen: false, willRetry: false }])
  })
  t.test('from a close listener', async (t) => {
    const fake = fakeClient()
    const socket = await connected(fake)
    fake.client.on('close', () => fake.client.close())
    socket.end(1006)
    t.equal(fake.client.state, 'closed')
    t.equal(fake.events.reconnecting, undefined)
    t.equal(fake.timers.size, 0)
  })
  t.test('from a reconnecting listener', async (t) => {
    const fake = fakeClient()
    const socket = await connected(fake)
    fake.client.on('reconnecting', () => fake.client.close())
    socket.end(1006)
    t.equal(fake.client.state, 'closed')
    t.equal(fake.timers.size, 0)
  })
  t.test('with a code the browser would refuse', async (t) => {
    const fake = fakeClient()
    t.throws(() => fake.client.close(1001), TypeError)
    fake.client.close()
  })
})

t.test('a socket whose close() throws is let go all the same', async (t) => {
  const timedOut = fakeClient({ connectTimeoutMs: 100 })
  await flush()
  timedOut.last().closeThrows = true
  timedOut.timers.advance(100)
  t.equal(timedOut.client.state, 'waiting')
  t.equal(timedOut.last().listenerCount, 0)
  timedOut.client.close()

  const dead = fakeClient({ heartbeat: { idleMs: 100, timeoutMs: 100 } })
  const socket = await connected(dead)
  socket.closeThrows = true
  dead.timers.advance(200)
  t.equal(dead.events.close?.[0]?.reason, 'heartbeat timeout')
  t.equal(socket.listenerCount, 0)
  dead.client.close()

  const open = fakeClient()
  const last = await connected(open)
  last.closeThrows = true
  open.client.close()
  t.equal(open.client.state, 'closed')
  t.equal(last.listenerCount, 0)
})

t.test('autoConnect: false waits for connect()', async (t) => {
  const fake = fakeClient({ autoConnect: false })
  await flush()
  t.equal(fake.client.state, 'idle')
  t.equal(fake.sockets.length, 0)
  fake.client.connect()
  fake.client.connect()
  await flush()
  t.equal(fake.sockets.length, 1, 'connect() twice starts one attempt')
  fake.client.close()
})

t.test(
  'the send queue: bounded, flushed in order on open, before open listeners send',
  async (t) => {
    const fake = fakeClient({ queue: { max: 3 } })
    fake.client.on('open', () => fake.client.send({ type: 'hello' }))
    for (const n of [1, 2, 3, 4, 5]) t.equal(fake.client.send({ type: 'msg', n }), true)
    t.equal(fake.client.queued, 3)
    const dropped = fake.events.error?.map((error) => (error as QueueFullError).dropped)
    t.same(dropped, ['{"type":"msg","n":1}', '{"type":"msg","n":2}'], 'drop-oldest by default')
    t.ok(fake.events.error?.every((error) => error instanceof QueueFullError))
    const socket = await connected(fake)
    t.same(socket.frames, [
      { type: 'msg', n: 3 },
      { type: 'msg', n: 4 },
      { type: 'msg', n: 5 },
      { type: 'hello' },
    ])
    t.equal(fake.client.queued, 0)
    fake.client.send({ type: 'now' })
    t.same(socket.frames.at(-1), { type: 'now' }, 'sent at once while open')
    socket.end(1006)
    fake.client.send({ type: 'later' })
    t.equal(fake.client.queued, 1)
    fake.client.close()
    t.equal(fake.client.queued, 0, 'close drops the queue')
  },
)

t.test('overflow policies drop-newest and throw, and a queue of 0', async (t) => {
  const newest = fakeClient({ queue: { max: 1, overflow: 'drop-newest' } })
  t.equal(newest.client.send({ type: 'a' }), true)
  t.equal(newest.client.send({ type: 'b' }), false)
  t.equal((newest.events.error?.[0] as QueueFullError).dropped, '{"type":"b"}')
  const socket = await connected(newest)
  t.same(socket.frames, [{ type: 'a' }])
  newest.client.close()

  const strict = fakeClient({ queue: { max: 1, overflow: 'throw' } })
  strict.client.send({ type: 'a' })
  t.throws(() => strict.client.send({ type: 'b' }), QueueFullError)
  t.equal(strict.client.queued, 1)
  strict.client.close()

  const none = fakeClient({ queue: { max: 0 } })
  t.equal(none.client.send({ type: 'a' }), false)
  none.client.close()
})

t.test('send refuses messages without a type, and reserved types', async (t) => {
  const fake = fakeClient()
  t.throws(() => fake.client.send({} as never), TypeError)
  t.throws(() => fake.client.send(null as never), TypeError)
  t.throws(() => fake.client.send({ type: '$refresh', token: 'x' }), /reserved/)
  fake.client.close()
})

t.test('messages: application frames are emitted, reserved ones are not', async (t) => {
  const fake = fakeClient()
  const socket = await connected(fake)
  socket.receive({ type: 'chat', text: 'hi' })
  socket.receive({ type: '$pong' })
  socket.receive({ type: '$future-frame' })
  socket.receive({ type: 'error', code: 'unknown_type', message: 'unknown', for: '$ping' })
  socket.receive({ type: 'error', code: 'forbidden', message: 'no', for: 'say' })
  t.same(fake.events.message, [
    { type: 'chat', text: 'hi' },
    { type: 'error', code: 'forbidden', message: 'no', for: 'say' },
  ])
  for (const bad of ['not json', '[1]', '"x"', '{"type":""}', '{"type":3}', 'null']) {
    socket.receive(bad)
  }
  socket.receiveRaw(new ArrayBuffer(4))
  t.equal(fake.events.error?.length, 7)
  t.ok(fake.events.error?.every((error) => error instanceof BadFrameError))
  fake.client.close()
})

t.test('a throwing listener does not stop the others; its error is rethrown later', async (t) => {
  const fake = fakeClient()
  const seen: string[] = []
  fake.client.on('message', () => {
    throw new Error('listener bug')
  })
  fake.client.on('message', () => seen.push('second'))
  const once: unknown[] = []
  fake.client.once('message', (message) => once.push(message))
  const socket = await connected(fake)
  socket.receive({ type: 'a' })
  socket.receive({ type: 'b' })
  t.same(seen, ['second', 'second'])
  t.same(once, [{ type: 'a' }], 'once listeners run once')
  t.throws(() => fake.timers.advance(0), /listener bug/)
  const off = fake.client.on('message', () => seen.push('third'))
  off()
  fake.client.off('message', () => {})
  socket.receive({ type: 'c' })
  t.same(seen, ['second', 'second', 'second'])
  fake.client.close()
})

t.test(
  'dead-server detection: $ping when idle, drop and reconnect when nothing answers',
  async (t) => {
    const fake = fakeClient({ heartbeat: { idleMs: 1_000, timeoutMs: 500 } })
    const socket = await connected(fake)
    fake.timers.advance(1_000)
    t.same(socket.frames, [{ type: '$ping' }])
    socket.receive({ type: '$pong' })
    fake.timers.advance(1_000)
    t.equal(socket.frames.length, 2, 'pinged again after another idle second')
    fake.timers.advance(500)
    t.ok(socket.closedWith, 'the socket is dropped')
    t.same(fake.events.close, [
      { code: 1006, reason: 'heartbeat timeout', wasOpen: true, willRetry: true },
    ])
    t.equal(socket.listenerCount, 0)
    fake.timers.advance(60_000)
    await flush()
    t.equal(fake.sockets.length, 2, 'reconnecting')
    fake.client.close()
  },
)

t.test('heartbeat: false never pings', async (t) => {
  const fake = fakeClient({ heartbeat: false })
  const socket = await connected(fake)
  fake.timers.advance(3_600_000)
  t.same(socket.frames, [])
  t.equal(fake.client.state, 'open')
  fake.client.close()
})

t.test('resumption: the credential and the last positions go into the next URL', async (t) => {
  const fake = fakeClient()
  const socket = await connected(fake)
  socket.receive({ type: '$session', id: 's1', resume: 'cred-1', ttlMs: 120_000, resumed: false })
  t.same(fake.events.session, [
    { id: 's1', resumed: false, complete: true, missed: 0, channels: [] },
  ])
  t.equal(fake.client.sessionId, 's1')
  socket.receive({ type: 'chat', $s: 'channel:a', $q: 4 })
  socket.receive({ type: 'chat', $s: 'channel:a', $q: 7 })
  socket.receive({ type: 'chat', $s: 'channel:a', $q: 5 }) // out of order: the highest stays
  socket.receive({ type: 'note', $s: 'user:alice', $q: 2 })
  socket.receive({ type: 'direct' })
  fake.timers.advance(10_000)
  socket.end(1006)
  await retry(fake)
  const next = await connected(fake)
  t.equal(next.query.get('ws_resume'), 's1.cred-1')
  t.same(decodePositions(next.query.get('ws_pos') ?? ''), { 'channel:a': 7, 'user:alice': 2 })
  t.same(fake.events.open?.at(-1), { attempt: 1, resuming: true })

  next.receive({
    type: '$session',
    id: 's1',
    resume: 'cred-2',
    ttlMs: 120_000,
    resumed: true,
    complete: false,
    missed: 1,
    channels: ['a'],
  })
  next.receive({ type: 'chat', $s: 'channel:a', $q: 9 })
  t.same(fake.events.resumed, [{ complete: false, missed: 1, channels: ['a'] }])
  t.same(fake.events.session?.at(-1), {
    id: 's1',
    resumed: true,
    complete: false,
    missed: 1,
    channels: ['a'],
  })
  next.end(1006)
  await retry(fake)
  const third = await connected(fake)
  t.equal(third.query.get('ws_resume'), 's1.cred-2', 'every $session brings a new credential')
  t.same(decodePositions(third.query.get('ws_pos') ?? ''), { 'channel:a': 9, 'user:alice': 2 })

  third.receive({ type: '$session', id: 's2', resume: 'cred-3', ttlMs: 120_000, resumed: false })
  third.end(1006)
  await retry(fake)
  const fourth = await connected(fake)
  t.equal(fourth.query.get('ws_resume'), 's2.cred-3')
  t.equal(fourth.query.get('ws_pos'), null, 'a fresh session forgets the old positions')
  fake.client.close()
})

t.test('resumption: past ttlMs the client starts fresh; resume: false never resumes', async (t) => {
  const fake = fakeClient()
  const socket = await connected(fake)
  socket.receive({ type: '$session', id: 's1', resume: 'c', ttlMs: 5_000, resumed: false })
  socket.receive({ type: 'chat', $s: 'all', $q: 1 })
  socket.end(1006)
  fake.timers.advance(5_000)
  const next = await connected(fake)
  t.equal(next.query.get('ws_resume'), null)
  t.equal(next.query.get('ws_pos'), null)
  t.equal(fake.client.sessionId, undefined)
  fake.client.close()

  const off = fakeClient({ resume: false })
  const first = await connected(off)
  first.receive({ type: '$session', id: 's1', resume: 'c', ttlMs: 120_000, resumed: false })
  first.end(1006)
  await retry(off)
  t.equal((await connected(off)).query.get('ws_resume'), null)
  off.client.close()
})

t.test('resumption: a malformed $session is an error and changes nothing', async (t) => {
  const fake = fakeClient()
  const socket = await connected(fake)
  socket.receive({ type: '$session', id: 's1', ttlMs: 1 })
  t.type(fake.events.error?.[0], BadFrameError)
  t.equal(fake.client.sessionId, undefined)
  socket.receive({ type: '$session', id: 's1', resume: 'c', ttlMs: 1, resumed: true })
  t.same(fake.events.resumed, [{ complete: false, missed: 0, channels: [] }], 'missing fields')
  fake.client.close()
})

t.test(
  'refresh: the server asks, the client answers with a fresh token on the same socket',
  async (t) => {
    let refreshes = 0
    let release: () => void = () => {}
    const fake = fakeClient({
      refreshToken: () =>
        new Promise<string>((resolve) => {
          refreshes++
          release = () => resolve(`refresh-${refreshes}`)
        }),
    })
    const socket = await connected(fake)
    socket.receive({ type: '$refresh', expiresAt: 123 })
    socket.receive({ type: '$refresh', expiresAt: 123 })
    await flush()
    t.equal(refreshes, 1, 'one refresh at a time')
    release()
    await flush()
    t.same(socket.frames, [{ type: '$refresh', token: 'refresh-1' }])
    socket.receive({ type: '$refreshed', expiresAt: 456 })
    socket.receive({ type: '$refreshed' })
    t.same(fake.events.refreshed, [{ expiresAt: 456 }])
    t.equal(fake.events.message, undefined)

    socket.receive({ type: '$refresh', expiresAt: 789 })
    await flush()
    socket.end(1006) // lost before the token came back
    release()
    await flush()
    t.equal(socket.frames.length, 1, 'a token for a lost connection is not sent anywhere')
    fake.client.close()
  },
)

t.test(
  'refresh: by default the token provider; failures and refusals are error events',
  async (t) => {
    let fail = false
    const fake = fakeClient({
      token: () => {
        if (fail) throw new Error('logged out')
        return 'tok'
      },
    })
    const socket = await connected(fake)
    socket.receive({ type: '$refresh', expiresAt: 1 })
    await flush()
    t.same(socket.frames, [{ type: '$refresh', token: 'tok' }])
    socket.receive({
      type: 'error',
      code: 'token_replayed',
      message: 'token already used',
      for: '$refresh',
    })
    socket.receive({ type: 'error', for: '$refresh' })
    const refused = fake.events.error?.[0] as RefreshRefusedError
    t.type(refused, RefreshRefusedError)
    t.equal(refused.serverCode, 'token_replayed')
    t.equal((fake.events.error?.[1] as RefreshRefusedError).serverCode, 'unknown')
    fail = true
    socket.receive({ type: '$refresh', expiresAt: 1 })
    await flush()
    t.type(fake.events.error?.[2], TokenProviderError)
    t.equal(fake.events.message, undefined, 'none of it is an application message')
    fake.client.close()
  },
)

t.test('refresh: a provider returning an empty token is an error', async (t) => {
  const fake = fakeClient({ refreshToken: () => '' })
  const socket = await connected(fake)
  socket.receive({ type: '$refresh', expiresAt: 1 })
  await flush()
  t.type(fake.events.error?.[0], TokenProviderError)
  t.same(socket.frames, [])
  fake.client.close()
})

t.test('options are validated, each error naming its option', async (t) => {
  const WebSocket = class {} as never
  const base = { url: 'ws://x/ws', token: () => 't', WebSocket, autoConnect: false }
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ url: 3 }, /option url/],
    [{ url: 'http://x' }, /option url must be a ws/],
    [{ token: 'x' }, /option token/],
    [{ WebSocket: undefined }, /option WebSocket/],
    [{ refreshToken: 1 }, /option refreshToken/],
    [{ backoff: { initialDelayMs: 0 } }, /backoff.initialDelayMs/],
    [{ backoff: { maxDelayMs: 100 } }, /backoff.maxDelayMs must be at least/],
    [{ backoff: { factor: 0.5 } }, /backoff.factor must be at least 1/],
    [{ backoff: { factor: Infinity } }, /backoff.factor/],
    [{ backoff: { immediateJitterMs: -1 } }, /backoff.immediateJitterMs/],
    [{ backoff: { stableAfterMs: 1.5 } }, /backoff.stableAfterMs/],
    [{ connectTimeoutMs: 0 }, /connectTimeoutMs/],
    [{ maxAttempts: 0 }, /maxAttempts must be at least 1/],
    [{ maxAttempts: 2.5 }, /maxAttempts/],
    [{ heartbeat: { idleMs: -1 } }, /heartbeat.idleMs/],
    [{ heartbeat: { timeoutMs: 'x' } }, /heartbeat.timeoutMs/],
    [{ queue: { max: -1 } }, /queue.max/],
    [{ queue: { overflow: 'block' } }, /queue.overflow/],
    [{ resume: 'yes' }, /option resume/],
    [{ autoConnect: 1 }, /option autoConnect/],
    [{ random: 1 }, /option random/],
    [{ protocols: [1] }, /option protocols/],
    [{ timers: {} }, /option timers/],
  ]
  for (const [override, message] of bad) {
    t.throws(() => new WardenClient({ ...base, ...override } as never), message, message.source)
  }
  t.throws(() => new WardenClient(null as never), /options must be an object/)
  const client = new WardenClient({ ...base, maxAttempts: Infinity, protocols: 'p' })
  t.equal(client.state, 'idle')
  client.close()
})

t.test('the global WebSocket is the default', async (t) => {
  const global = globalThis as { WebSocket?: unknown }
  const previous = global.WebSocket
  t.teardown(() => {
    global.WebSocket = previous
  })
  const urls: string[] = []
  global.WebSocket = class {
    constructor(url: string) {
      urls.push(url)
    }
    addEventListener() {}
    removeEventListener() {}
    close() {}
  }
  const client = new WardenClient({ url: 'ws://x/ws', token: () => 't' })
  await flush()
  t.same(urls, ['ws://x/ws?ws_token=t'])
  client.close()
})
