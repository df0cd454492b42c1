import t from 'tap'
import type { Test } from 'tap'
import type { WebSocket } from 'ws'
import { LiveConnection } from '../src/connection.js'
import { createWarden, ErrorCode } from '../src/index.js'
import type { DisconnectInfo, Handler, HandlerContext, Logger } from '../src/index.js'
import { MessageDispatcher } from '../src/messages.js'
import { SECRET, startManualServer, startServer, until } from './helpers/server.js'

const echo: Handler = ({ message, reply }) => {
  reply({ type: 'echo', n: message.n })
}

t.test('a message reaches its handler and the reply comes back', async (t) => {
  const seen: string[] = []
  const { connect } = await startServer(t, {
    handlers: { echo },
    hooks: { onMessage: (_c, type) => seen.push(type) },
  })
  const client = await connect()
  client.send({ type: 'echo', n: 1 })
  t.same(await client.next((m) => m.type === 'echo'), { type: 'echo', n: 1 })
  t.same(seen, ['echo'])
})

t.test('bad input gets an error frame and the connection stays usable', async (t) => {
  const { connect } = await startServer(t, { handlers: { echo } })
  const client = await connect()
  const other = await connect('bob')
  client.send('{not json')
  client.send('[1,2]')
  client.send({ kind: 'no type' })
  client.send({ type: 'nope' })
  client.send({ type: 'toString' })
  client.socket.send(Buffer.from([1, 2, 3]), { binary: true })
  client.send({ type: 'echo', n: 7 })
  await client.next((m) => m.type === 'echo')
  t.same(
    client.ofType('error').map((m) => m.code),
    [
      ErrorCode.BadJson,
      ErrorCode.BadMessage,
      ErrorCode.BadMessage,
      ErrorCode.UnknownType,
      ErrorCode.UnknownType,
      ErrorCode.BadMessage,
    ],
  )
  t.equal(client.ofType('error')[3]?.for, 'nope')
  other.send({ type: 'echo', n: 8 })
  t.same(await other.next((m) => m.type === 'echo'), { type: 'echo', n: 8 }, 'others unaffected')
})

t.test('handler permissions are checked per message type', async (t) => {
  const { connect } = await startServer(t, {
    handlers: {
      announce: {
        permissions: ['chat.moderate'],
        handle: ({ reply }) => void reply({ type: 'ok' }),
      },
      ping: { handle: ({ reply }) => void reply({ type: 'pong' }) },
    },
  })
  const user = await connect({ userId: 'u', permissions: [] })
  const admin = await connect({ userId: 'admin', permissions: ['chat.moderate'] })
  user.send({ type: 'announce' })
  admin.send({ type: 'announce' })
  t.same(await user.next((m) => m.type === 'error'), {
    type: 'error',
    code: 'forbidden',
    message: 'permission denied',
    for: 'announce',
  })
  t.ok(await admin.next((m) => m.type === 'ok'))
  user.send({ type: 'ping' })
  t.ok(await user.next((m) => m.type === 'pong'), '{ handle } without permissions is open to all')
})

t.test('a crashing handler answers with an error frame; the connection survives', async (t) => {
  const errors: unknown[] = []
  const { connect } = await startServer(t, {
    handlers: {
      boom: () => {
        throw new Error('secret internals')
      },
      later: async () => {
        throw new Error('async internals')
      },
      echo,
    },
    hooks: { onError: (error) => errors.push(error) },
  })
  const client = await connect()
  client.send({ type: 'boom' })
  client.send({ type: 'later' })
  client.send({ type: 'echo', n: 2 })
  await client.next((m) => m.type === 'echo')
  const frames = client.ofType('error')
  t.same(frames, [
    { type: 'error', code: 'internal', message: 'internal error', for: 'boom' },
    { type: 'error', code: 'internal', message: 'internal error', for: 'later' },
  ])
  t.equal(errors.length, 2, 'both crashes reach onError')
})

t.test('async handlers of one connection run one at a time, in order', async (t) => {
  const { connect } = await startServer(t, {
    handlers: {
      slow: async ({ message, reply }) => {
        await new Promise((resolve) => setTimeout(resolve, Number(message.delay)))
        reply({ type: 'done', n: message.n })
      },
    },
  })
  const client = await connect()
  client.send({ type: 'slow', n: 1, delay: 30 })
  client.send({ type: 'slow', n: 2, delay: 0 })
  client.send({ type: 'slow', n: 3, delay: 10 })
  await until(() => client.ofType('done').length === 3)
  t.same(
    client.ofType('done').map((m) => m.n),
    [1, 2, 3],
  )
})

t.test('an oversize message closes the connection with 1009', async (t) => {
  const { connect } = await startServer(t, {
    limits: { maxMessageBytes: 1024 },
    handlers: { echo },
  })
  const client = await connect()
  const other = await connect('bob')
  client.send({ type: 'echo', pad: 'x'.repeat(2000) })
  const { code } = await client.closed
  t.equal(code, 1009)
  other.send({ type: 'echo', n: 1 })
  t.ok(await other.next((m) => m.type === 'echo'), 'the other connection is unaffected')
})

t.test('a message flood is limited in process; others are unaffected', async (t) => {
  let handled = 0
  const { connect } = await startServer(t, {
    limits: { messagesPerSecond: 10 },
    handlers: {
      count: () => {
        handled++
      },
      echo,
    },
  })
  const flooder = await connect('flooder')
  const calm = await connect('calm')
  for (let i = 0; i < 200; i++) flooder.send({ type: 'count' })
  flooder.send({ type: 'echo', n: 'after' })
  await flooder.next((m) => m.type === 'error' && m.code === 'rate_limited')
  calm.send({ type: 'echo', n: 1 })
  await calm.next((m) => m.type === 'echo')
  t.ok(handled >= 10 && handled < 50, `about one burst handled, not 200 (${handled})`)
  t.equal(
    flooder.ofType('error').length,
    1,
    'error frames are throttled, not one per dropped message',
  )
  t.equal(flooder.socket.readyState, flooder.socket.OPEN, 'the flooder stays connected')
})

t.test(
  'a flooder is not read while its bucket is empty, and is read again once it refills',
  async (t) => {
    const { connect, connections } = await startServer(t, {
      limits: { messagesPerSecond: 10 },
      handlers: { count: () => {}, echo },
    })
    const flooder = await connect('flooder')
    await until(() => connections.length === 1)
    const socket = (connections[0] as unknown as { socket: WebSocket }).socket
    const reading: string[] = []
    const [pause, resume] = [socket.pause.bind(socket), socket.resume.bind(socket)]
    socket.pause = () => {
      reading.push('pause')
      pause()
    }
    socket.resume = () => {
      reading.push('resume')
      resume()
    }
    for (let i = 0; i < 200; i++) flooder.send({ type: 'count' })
    await flooder.next((m) => m.type === 'error' && m.code === 'rate_limited')
    t.equal(reading[0], 'pause', 'reading paused when the bucket ran dry')
    // Sent while reading is paused: it waits in the TCP buffers instead of being read (and
    // dropped) at once, and is handled once the bucket has refilled (frames of the flood still
    // unread may use that refill up and pause it once more: the echo then waits one more pause).
    await until(() => reading.includes('resume'), 10_000)
    flooder.send({ type: 'echo', n: 'later' })
    t.same(await flooder.next((m) => m.type === 'echo', 10_000), { type: 'echo', n: 'later' })
    t.same(reading.slice(0, 2), ['pause', 'resume'])
    t.equal(flooder.socket.readyState, flooder.socket.OPEN, 'the flooder stays connected')
  },
)

t.test(
  'a flooder is held back by TCP: its frames stay in its own buffer, a neighbour is served, and it is read again after readPauseMs',
  async (t) => {
    const { connect, connections } = await startServer(t, {
      limits: { messagesPerSecond: 10, readPauseMs: 300 },
      heartbeat: false,
      handlers: { count: () => {}, echo },
    })
    const flooder = await connect('flooder')
    const calm = await connect('calm')
    await until(() => connections.length === 2)
    // Frames the server's ws socket has read from the flooder, counted under the warden.
    let read = 0
    const serverSide = (connections[0] as unknown as { socket: WebSocket }).socket
    serverSide.on('message', () => void read++)
    for (let i = 0; i <= 10; i++) flooder.send({ type: 'count' })
    await flooder.next((m) => m.type === 'error' && m.code === 'rate_limited')
    // Its bucket is dry and its socket is not read: what it sends now fills the TCP buffers and
    // then its own. Bounded: 4,000 frames of 16 KiB (64 MiB) at most.
    const frame = JSON.stringify({ type: 'count', pad: 'x'.repeat(16 * 1024) })
    let sent = 0
    while (flooder.socket.bufferedAmount < 1 << 20 && sent < 4_000) {
      flooder.socket.send(frame)
      sent++
      if (sent % 16 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    t.ok(flooder.socket.bufferedAmount >= 1 << 20, 'the flooder holds a MiB it could not send')
    t.ok(read < sent / 2, `most of its frames were never read (${read} of ${sent})`)
    calm.send({ type: 'echo', n: 'calm' })
    t.same(
      await calm.next((m) => m.type === 'echo'),
      { type: 'echo', n: 'calm' },
      'neighbour served',
    )
    const readSoFar = read
    await until(() => read > readSoFar, 10_000)
    t.pass('once the pause is over, the flooder is read again')
    t.equal(flooder.socket.readyState, flooder.socket.OPEN, 'and it stays connected')
  },
)

/** A dispatcher (4 messages/s, burst 2) and a connection whose read pauses are recorded. */
function pausingDispatcher(readPauseMs: number, maxReadPauseMs: number) {
  const clock = { now: 1_000 }
  const dispatcher = new MessageDispatcher<Record<string, unknown>>({
    handlers: { n: () => {} },
    maxMessageBytes: 1_000,
    messagesPerSecond: 4,
    messageBurst: 2,
    readPauseMs,
    maxReadPauseMs,
    now: () => clock.now,
    context: (connection, message) =>
      ({ connection, message }) as unknown as HandlerContext<Record<string, unknown>>,
    reserved: () => {},
    onError: () => {},
  })
  const pauses: number[] = []
  const connection = new LiveConnection<Record<string, unknown>>({
    id: 'c1',
    principal: { userId: 'u', permissions: [] },
    ip: '127.0.0.1',
    socket: { readyState: 1, bufferedAmount: 0, send: () => {} } as unknown as WebSocket,
    host: {
      maxBufferedBytes: 1 << 20,
      sendTimeoutMs: 5_000,
      now: () => clock.now,
      ended: () => {},
      received: () => {},
      socketError: () => {},
    },
    burst: 2,
  })
  connection.pauseReading = (ms) => void pauses.push(ms)
  const message = Buffer.from('{"type":"n"}')
  const receive = (): void => dispatcher.receive(connection, message, false)
  return { clock, pauses, receive }
}

t.test('a refused message pauses reading for readPauseMs, at most maxReadPauseMs', async (t) => {
  const { clock, pauses, receive } = pausingDispatcher(500, 200)
  receive()
  receive()
  t.same(pauses, [], 'the burst passes')
  receive()
  t.same(pauses, [200], 'the pause stops at the bound')
  clock.now += 100
  receive()
  t.same(pauses, [200, 200], 'still dry: paused again (the connection ignores it while paused)')
  clock.now += 1_000
  receive()
  receive()
  t.same(pauses, [200, 200], 'refilled: the burst passes again')
  const unbounded = pausingDispatcher(500, Infinity)
  for (let i = 0; i < 3; i++) unbounded.receive()
  t.same(unbounded.pauses, [500], 'without heartbeats, readPauseMs as it is')
})

t.test('readPauseMs 0: refused messages are dropped, reading never pauses', async (t) => {
  const { pauses, receive } = pausingDispatcher(0, 200)
  for (let i = 0; i < 5; i++) receive()
  t.same(pauses, [])
})

t.test('queued messages all run, in order, after the async handler ahead of them', async (t) => {
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => (release = resolve))
  const { connect } = await startServer(t, {
    limits: { messagesPerSecond: 1_000 },
    handlers: {
      slow: async ({ reply }) => {
        await gate
        reply({ type: 'slow-done' })
      },
      mark: ({ message, reply }) => {
        reply({ type: 'marked', n: message.n })
      },
      echo,
    },
  })
  const client = await connect()
  client.send({ type: 'slow' })
  // 64 messages wait behind it (sync handlers and an unknown type among them) ...
  for (let n = 0; n < 63; n++) client.send(n === 30 ? { type: 'nope' } : { type: 'mark', n })
  client.send({ type: 'mark', n: 63 })
  // ... and the 65th finds the queue full: it is dropped and answered with rate_limited.
  client.send({ type: 'mark', n: 64 })
  t.match(await client.next((m) => m.type === 'error'), {
    code: 'rate_limited',
    message: 'too many messages',
  })
  t.same(client.ofType('marked'), [], 'nothing ran while the async handler was busy')
  release()
  await client.next((m) => m.type === 'marked' && m.n === 63)
  const expected = [...Array(64).keys()].filter((n) => n !== 30)
  t.same(
    client.ofType('marked').map((m) => m.n),
    expected,
    'every queued message ran, in arrival order',
  )
  t.equal(client.ofType('slow-done').length, 1)
  t.same(
    client.ofType('error').map((m) => m.code),
    ['rate_limited', 'unknown_type'],
  )
  client.send({ type: 'echo', n: 'after' })
  t.same(await client.next((m) => m.type === 'echo'), { type: 'echo', n: 'after' })
})

t.test('a handler that is neither a function nor { handle } is refused by name', async (t) => {
  for (const handler of [42, null, {}, { handle: 'nope' }]) {
    t.throws(
      () =>
        createWarden({
          tokens: { secret: SECRET },
          handlers: { join: handler as unknown as Handler },
        }),
      new TypeError('ws-warden: option handlers.join must be a function or { handle }'),
      JSON.stringify(handler),
    )
  }
})

t.test('messages that arrive once the server is closing are not dispatched', async (t) => {
  let echoed = 0
  const { connect } = await startServer(t, {
    handlers: {
      bye: ({ connection }) => connection.close(4000, 'bye'),
      echo: (context) => {
        echoed++
        return echo(context)
      },
    },
  })
  const client = await connect()
  client.send({ type: 'bye' })
  client.send({ type: 'echo', n: 1 })
  t.same(await client.closedWithin(), { code: 4000, reason: 'bye' })
  t.equal(echoed, 0)
  t.same(client.messages, [])
})

/** `ws` 8.18+ also accepts 'blob', which @types/ws does not list yet. */
type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob'

/** A client whose server-side socket uses `binaryType`, on a ws server without `maxPayload`. */
async function binarySetup(t: Test, binaryType: BinaryType) {
  const ended: DisconnectInfo[] = []
  const { admit, pair, warden } = await startManualServer(t, {
    limits: { maxMessageBytes: 1024 },
    handlers: { echo },
    hooks: { onDisconnect: (_c, info) => ended.push(info) },
  })
  const admission = await admit()
  if (!admission.ok) throw admission.error
  const { client, socket } = await pair()
  Reflect.set(socket, 'binaryType', binaryType)
  t.equal(socket.binaryType, binaryType)
  t.ok(warden.attach(socket, admission.ticket))
  return { client, ended }
}

t.test('the size limit holds even when ws is not given warden.wsOptions', async (t) => {
  const { client, ended } = await binarySetup(t, 'nodebuffer')
  client.send({ type: 'echo', n: 1 })
  await client.next((m) => m.type === 'echo')
  client.send({ type: 'echo', pad: 'x'.repeat(2_000) })
  t.same(await client.closedWithin(), { code: 1009, reason: 'message_too_big' })
  await until(() => ended.length === 1)
  t.same(ended, [{ cause: 'server', code: 1009 }])
})

t.test('binary frames, whatever the socket binaryType', async (t) => {
  for (const binaryType of ['nodebuffer', 'arraybuffer', 'fragments', 'blob'] as const) {
    await t.test(binaryType, async (t) => {
      const { client } = await binarySetup(t, binaryType)
      client.socket.send(Buffer.alloc(1_000), { binary: true })
      t.match(await client.next((m) => m.type === 'error'), {
        code: ErrorCode.BadMessage,
        message: 'binary frames are not accepted',
      })
      // Two fragments of one message: 'fragments' hands them over as an array.
      client.socket.send(Buffer.alloc(600), { binary: true, fin: false })
      client.socket.send(Buffer.alloc(600), { binary: true, fin: true })
      t.same(
        await client.closedWithin(),
        { code: 1009, reason: 'message_too_big' },
        'over the limit: 1009',
      )
      t.equal(client.ofType('error').length, 1)
    })
  }
})

t.test('without an onError hook a crash is logged and still answered', async (t) => {
  const logged: Record<string, unknown>[] = []
  const log = (entry: object) => void logged.push(entry as Record<string, unknown>)
  const logger: Logger = { debug: log, info: log, warn: log, error: log, child: () => logger }
  const { connect } = await startServer(t, {
    logger,
    handlers: {
      boom: () => {
        throw new Error('secret internals')
      },
      odd: () => {
        throw 'not an Error'
      },
      echo,
    },
  })
  const client = await connect()
  client.send({ type: 'boom' })
  client.send({ type: 'odd' })
  client.send({ type: 'echo', n: 1 })
  await client.next((m) => m.type === 'echo')
  t.same(
    client.ofType('error').map((m) => [m.code, m.message, m.for]),
    [
      ['internal', 'internal error', 'boom'],
      ['internal', 'internal error', 'odd'],
    ],
  )
  t.same(
    logged.filter((entry) => entry.event === 'error').map((entry) => entry.err),
    ['secret internals', 'not an Error'],
  )
})

t.test('an onError hook that throws changes nothing for the connection', async (t) => {
  let calls = 0
  const { connect } = await startServer(t, {
    handlers: {
      boom: () => {
        throw new Error('crash')
      },
      echo,
    },
    hooks: {
      onError: () => {
        calls++
        throw new Error('the hook crashed too')
      },
    },
  })
  const client = await connect()
  client.send({ type: 'boom' })
  client.send({ type: 'echo', n: 3 })
  t.same(await client.next((m) => m.type === 'echo'), { type: 'echo', n: 3 })
  t.match(client.ofType('error'), [{ code: 'internal', for: 'boom' }])
  t.equal(calls, 1)
})

t.test('a connection that closes drops the messages queued behind a handler', async (t) => {
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => (release = resolve))
  let marked = 0
  const { connect, connections } = await startServer(t, {
    handlers: {
      slow: async () => {
        await gate
      },
      mark: () => {
        marked++
      },
    },
  })
  const client = await connect()
  client.send({ type: 'slow' })
  client.send({ type: 'mark' })
  client.send({ type: 'mark' })
  // Bad JSON is answered at once, not queued: once its error is back, both marks are queued.
  client.send('{not json')
  await client.next((m) => m.code === ErrorCode.BadJson)
  connections[0]?.close(4000, 'bye')
  release()
  t.same(await client.closedWithin(), { code: 4000, reason: 'bye' })
  t.equal(marked, 0)
})
