import t from 'tap'
import { ErrorCode } from '../src/index.js'
import type { Handler } from '../src/index.js'
import { startServer, until } from './helpers/server.js'

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
    handlers: { announce: { permissions: ['chat.moderate'], handle: ({ reply }) => void reply({ type: 'ok' }) } },
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
  const { connect } = await startServer(t, { limits: { maxMessageBytes: 1024 }, handlers: { echo } })
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
  t.equal(flooder.ofType('error').length, 1, 'error frames are throttled, not one per dropped message')
  t.equal(flooder.socket.readyState, flooder.socket.OPEN, 'the flooder stays connected')
})
