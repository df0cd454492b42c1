// Per-handler message schemas (Standard Schema) over real sockets: Zod for a real library, a
// hand-written async schema for the async path.
import t from 'tap'
import { z } from 'zod'
import type { StandardSchemaV1 } from '../src/index.js'
import { createWarden, defineHandler, ErrorCode } from '../src/index.js'
import type { Handler } from '../src/index.js'
import { SECRET, startServer, until } from './helpers/server.js'

const say = z.object({
  type: z.literal('say'),
  channel: z.string().min(1),
  text: z.string().max(20),
})

t.test('a valid message reaches the handler as the schema produced it', async (t) => {
  const seen: unknown[] = []
  const { connect } = await startServer(t, {
    handlers: {
      say: defineHandler({
        schema: say,
        handle: ({ message, reply }) => {
          seen.push(message)
          // Typed: a typo here (message.txt) would not compile.
          reply({ type: 'said', text: message.text.toUpperCase(), channel: message.channel })
        },
      }),
    },
  })
  const client = await connect()
  client.send({ type: 'say', channel: 'room', text: 'hi', extra: 'stripped' })
  t.same(await client.next((m) => m.type === 'said'), { type: 'said', text: 'HI', channel: 'room' })
  t.same(seen, [{ type: 'say', channel: 'room', text: 'hi' }], 'Zod stripped the unknown key')
})

t.test('a bad payload gets bad_message with its issues; the handler never runs', async (t) => {
  let ran = 0
  const { connect } = await startServer(t, {
    handlers: { say: defineHandler({ schema: say, handle: () => void ran++ }) },
  })
  const client = await connect()
  client.send({ type: 'say', channel: '', text: 'x'.repeat(21) })
  client.send({ type: 'say', channel: 'room', text: 'fine' })
  const error = await client.next((m) => m.type === 'error')
  await until(() => ran === 1)
  t.match(error, {
    type: 'error',
    code: ErrorCode.BadMessage,
    message: 'message does not match its schema',
    for: 'say',
  })
  const issues = error.issues as { message: string; path: unknown[] }[]
  t.same(
    issues.map((issue) => issue.path),
    [['channel'], ['text']],
  )
  t.ok(issues.every((issue) => typeof issue.message === 'string' && issue.message.length > 0))
  t.equal(ran, 1, 'only the valid one ran')
})

t.test('at most 10 issues are reported', async (t) => {
  const wide = z.object(
    Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`f${i}`, z.string()])),
  )
  const { connect } = await startServer(t, {
    handlers: { wide: defineHandler({ schema: wide, handle: () => {} }) },
  })
  const client = await connect()
  client.send({ type: 'wide' })
  const error = await client.next((m) => m.type === 'error')
  t.equal((error.issues as unknown[]).length, 10)
})

t.test('permissions are checked before the schema sees the message', async (t) => {
  let validated = 0
  const schema: StandardSchemaV1<unknown, { type: string }> = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (value) => (validated++, { value: value as { type: string } }),
    },
  }
  const { connect } = await startServer(t, {
    handlers: { announce: { permissions: ['admin'], schema, handle: () => {} } },
  })
  const client = await connect()
  client.send({ type: 'announce' })
  const error = await client.next((m) => m.type === 'error')
  t.equal(error.code, ErrorCode.Forbidden)
  t.equal(validated, 0)
})

/** An async schema whose answers take as long as the message says. */
const slowSchema: StandardSchemaV1<unknown, { type: string; n: number; delay: number }> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: async (value) => {
      const message = value as { type: string; n: unknown; delay: number }
      await new Promise((resolve) => setTimeout(resolve, message.delay))
      if (typeof message.n !== 'number')
        return { issues: [{ message: 'n must be a number', path: [{ key: 'n' }] }] }
      return { value: { ...message, n: message.n } }
    },
  },
}

t.test('an async schema keeps the connection’s messages in order', async (t) => {
  const { connect } = await startServer(t, {
    handlers: {
      slow: defineHandler({
        schema: slowSchema,
        handle: ({ message, reply }) => void reply({ type: 'done', n: message.n }),
      }),
      quick: ({ reply }) => void reply({ type: 'done', n: 'quick' }),
    },
  })
  const client = await connect()
  client.send({ type: 'slow', n: 1, delay: 30 })
  client.send({ type: 'slow', n: 'bad', delay: 20 })
  client.send({ type: 'slow', n: 3, delay: 0 })
  client.send({ type: 'quick' })
  await until(() => client.ofType('done').length === 3)
  t.same(
    client.messages
      .filter((m) => m.type === 'done' || m.type === 'error')
      .map((m) => m.n ?? m.code),
    [1, ErrorCode.BadMessage, 3, 'quick'],
  )
  t.same(client.ofType('error')[0]?.issues, [{ message: 'n must be a number', path: ['n'] }])
})

t.test('a schema that throws or rejects answers internal_error and reaches onError', async (t) => {
  const errors: unknown[] = []
  const throwing: StandardSchemaV1 = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: () => {
        throw new Error('schema bug')
      },
    },
  }
  const rejecting: StandardSchemaV1 = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: () => Promise.reject(new Error('async bug')),
    },
  }
  const { connect } = await startServer(t, {
    handlers: {
      a: { schema: throwing, handle: () => {} },
      b: { schema: rejecting, handle: () => {} },
      ping: ({ reply }) => void reply({ type: 'pong' }),
    },
    hooks: { onError: (error) => errors.push(error) },
  })
  const client = await connect()
  client.send({ type: 'a' })
  client.send({ type: 'b' })
  client.send({ type: 'ping' })
  await client.next((m) => m.type === 'pong')
  t.same(
    client.ofType('error').map((m) => [m.code, m.for]),
    [
      [ErrorCode.Internal, 'a'],
      [ErrorCode.Internal, 'b'],
    ],
  )
  t.same(
    errors.map((e) => (e as Error).message),
    ['schema bug', 'async bug'],
  )
})

t.test('a handler whose schema is not a Standard Schema is refused by name', async (t) => {
  for (const schema of [{}, { '~standard': { version: 2, validate: () => ({}) } }, 'z.string()']) {
    t.throws(
      () =>
        createWarden({
          tokens: { secret: SECRET },
          handlers: { say: { schema, handle: () => {} } as unknown as Handler },
        }),
      new TypeError('ws-warden: option handlers.say.schema must be a Standard Schema (v1)'),
    )
    t.throws(
      () => defineHandler({ schema: schema as unknown as StandardSchemaV1, handle: () => {} }),
      new TypeError('ws-warden: defineHandler needs a Standard Schema (v1) as schema'),
    )
  }
})

t.test('issue paths: none, empty, numbers, symbols and { key } segments', async (t) => {
  const schema: StandardSchemaV1 = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: () => ({
        issues: [
          { message: 'whole' },
          { message: 'empty', path: [] },
          { message: 'deep', path: ['items', 0, { key: 1 }, Symbol('s')] },
        ],
      }),
    },
  }
  const { connect } = await startServer(t, { handlers: { x: { schema, handle: () => {} } } })
  const client = await connect()
  client.send({ type: 'x' })
  const error = await client.next((m) => m.type === 'error')
  t.same(error.issues, [
    { message: 'whole' },
    { message: 'empty' },
    { message: 'deep', path: ['items', 0, 1, 'Symbol(s)'] },
  ])
})
