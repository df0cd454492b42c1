// OpenTelemetry spans over real sockets, with the real API and SDK: admission (and the store calls
// inside it, as children), delivery, errors as ERROR, and no token, IP or user id in a span.
import t from 'tap'
import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import type { SpanTracer } from '../src/index.js'
import { createWarden } from '../src/index.js'
import { markFailed } from '../src/tracing.js'
import type { HistoryStore } from '../src/stores.js'
import { MemoryBroker, MemoryHistoryStore, MemoryRateLimitStore } from '../src/stores.js'
import { SECRET, startServer, until } from './helpers/server.js'

const UNSET = 0
const ERROR = 2

const contextManager = new AsyncLocalStorageContextManager().enable()
context.setGlobalContextManager(contextManager)
t.teardown(() => context.disable())

function tracing() {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  // Compiles only if an OpenTelemetry Tracer fits the option's structural type.
  const tracer: SpanTracer = provider.getTracer('ws-warden-test')
  const spans = (name?: string): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((span) => name === undefined || span.name === name)
  return { tracer, spans, exporter }
}

function childrenOf(parent: ReadableSpan, spans: readonly ReadableSpan[]): ReadableSpan[] {
  const id = parent.spanContext().spanId
  return spans.filter((span) => span.parentSpanContext?.spanId === id)
}

function storeCalls(spans: readonly ReadableSpan[]): string[] {
  return spans.map(
    (span) =>
      `${String(span.attributes['ws_warden.store'])}.${String(span.attributes['ws_warden.store_operation'])}`,
  )
}

t.test(
  'an accepted admission: one span, its store calls as children, no identifiers',
  async (t) => {
    const { tracer, spans } = tracing()
    let activeInHook: string | undefined
    const { warden, connect } = await startServer(t, {
      tracer,
      sweeper: false,
      hooks: {
        onAdmit: (principal) => {
          // The application can add what it decides is safe to record, on the active span.
          activeInHook = trace.getActiveSpan()?.spanContext().spanId
          return principal
        },
      },
    })
    const { token } = await warden.issueToken({ userId: 'alice', permissions: [] })
    await connect('alice')
    await until(() => spans('ws-warden.admit').length === 1)
    const [admit] = spans('ws-warden.admit') as [ReadableSpan]
    t.same(admit.attributes, { 'ws_warden.outcome': 'accepted' })
    t.equal(admit.status.code, UNSET)
    t.equal(activeInHook, admit.spanContext().spanId, 'the span is active in the onAdmit hook')
    const children = childrenOf(admit, spans('ws-warden.store'))
    // The default memory stores admit in one step; with onAdmit the record goes in after it.
    t.same(storeCalls(children), ['admission.admit', 'sessions.add'])
    t.ok(children.every((span) => span.status.code === UNSET))
    const recorded = JSON.stringify(spans().map((span) => [span.attributes, span.events]))
    t.notOk(recorded.includes(token), 'no token')
    t.notOk(/alice|127\.0\.0\.1/.test(recorded), 'no user id, no IP')
  },
)

t.test('a refused client is not an error; a store failure is, on both spans', async (t) => {
  const { tracer, spans } = tracing()
  const memory = new MemoryRateLimitStore()
  let hang = false
  const rateLimits = Object.assign(Object.create(memory) as MemoryRateLimitStore, {
    hit: (key: string, limit: number, windowMs: number) =>
      hang ? new Promise<never>(() => {}) : memory.hit(key, limit, windowMs),
  })
  const { warden, open, url } = await startServer(t, {
    tracer,
    sweeper: false,
    storeTimeoutMs: 50,
    stores: { rateLimits },
  })
  const { token } = await warden.issueToken({ userId: 'alice', permissions: [] })
  await open(`${url}?ws_token=${token}`)
  await open(`${url}?ws_token=${token}`)
  hang = true
  await open(
    `${url}?ws_token=${(await warden.issueToken({ userId: 'bob', permissions: [] })).token}`,
  )
  await until(() => spans('ws-warden.admit').length === 3)
  const [, replayed, failed] = spans('ws-warden.admit') as [
    ReadableSpan,
    ReadableSpan,
    ReadableSpan,
  ]
  t.same(replayed.attributes, {
    'ws_warden.outcome': 'rejected',
    'ws_warden.reject_reason': 'token_replayed',
    'http.response.status_code': 401,
  })
  t.equal(replayed.status.code, UNSET, 'a 4xx refusal is the client’s, not an error')
  t.match(failed.attributes, {
    'ws_warden.reject_reason': 'store_unavailable',
    'http.response.status_code': 503,
  })
  t.equal(failed.status.code, ERROR)
  t.match(failed.status.message, /rateLimits store did not answer/)
  t.equal(failed.events[0]?.name, 'exception')
  const [store] = childrenOf(failed, spans('ws-warden.store')) as [ReadableSpan]
  t.same(storeCalls([store]), ['rate_limits.hit'])
  t.equal(store.status.code, ERROR)
  t.equal(store.events[0]?.name, 'exception')
})

t.test('deliveries: target kind, recipients, broker publish, history', async (t) => {
  const { tracer, spans } = tracing()
  const { warden, connect } = await startServer(t, {
    tracer,
    sweeper: false,
    handlers: {
      join: async ({ connection, warden, reply }) => {
        await warden.join(connection, 'room')
        reply({ type: 'joined' })
      },
    },
  })
  const alice = await connect('alice')
  await connect('alice')
  alice.send({ type: 'join' })
  await alice.next((m) => m.type === 'joined')
  t.equal(await warden.toUser('alice', { type: 'u' }), 2)
  t.equal(await warden.toChannel('room', { type: 'c' }), 1)
  t.equal(await warden.broadcast({ type: 'b' }), 2)
  t.same(
    spans('ws-warden.deliver').map((span) => span.attributes),
    [
      { 'ws_warden.target': 'user', 'ws_warden.broker_publish': false, 'ws_warden.recipients': 2 },
      {
        'ws_warden.target': 'channel',
        'ws_warden.broker_publish': false,
        'ws_warden.recipients': 1,
      },
      { 'ws_warden.target': 'all', 'ws_warden.broker_publish': false, 'ws_warden.recipients': 2 },
    ],
  )
  t.notOk(JSON.stringify(spans().map((s) => s.attributes)).includes('room'), 'no channel name')
})

t.test('through a broker: its publish is a child span; a failed publish is an ERROR', async (t) => {
  const { tracer, spans } = tracing()
  class FailingBroker extends MemoryBroker {
    fail = false
    override publish(topic: string, payload: string): Promise<void> {
      return this.fail ? Promise.reject(new Error('broker down')) : super.publish(topic, payload)
    }
  }
  const broker = new FailingBroker()
  const { warden } = await startServer(t, { tracer, sweeper: false, stores: { broker } })
  await warden.ready()
  t.equal(await warden.broadcast({ type: 'b' }), 0)
  broker.fail = true
  await t.rejects(warden.toUser('alice', { type: 'u' }), { code: 'store_unavailable' })
  const [ok, failed] = spans('ws-warden.deliver') as [ReadableSpan, ReadableSpan]
  t.same(ok.attributes, {
    'ws_warden.target': 'all',
    'ws_warden.broker_publish': true,
    'ws_warden.recipients': 0,
  })
  t.same(storeCalls(childrenOf(ok, spans('ws-warden.store'))), ['broker.publish'])
  t.equal(failed.status.code, ERROR)
  t.match(failed.status.message, /broker store failed/)
  t.notOk('ws_warden.recipients' in failed.attributes, 'delivered nowhere')
})

t.test('with resumption: whether history recorded the frame', async (t) => {
  const { tracer, spans } = tracing()
  const memory = new MemoryHistoryStore()
  let fail = false
  const history = Object.assign(Object.create(memory) as MemoryHistoryStore, {
    append: (...args: Parameters<HistoryStore['append']>) =>
      fail ? Promise.reject(new Error('history down')) : memory.append(...args),
  })
  const errors: unknown[] = []
  const { warden } = await startServer(t, {
    tracer,
    sweeper: false,
    resumption: true,
    stores: { history },
    hooks: { onError: (error) => errors.push(error) },
  })
  await warden.broadcast({ type: 'b' })
  fail = true
  t.equal(await warden.broadcast({ type: 'b' }), 0, 'an unrecorded frame still goes out')
  const [recorded, unrecorded] = spans('ws-warden.deliver') as [ReadableSpan, ReadableSpan]
  t.equal(recorded.attributes['ws_warden.history_recorded'], true)
  t.equal(unrecorded.attributes['ws_warden.history_recorded'], false)
  t.equal(unrecorded.events[0]?.name, 'exception', 'the failure is on the span')
  t.equal(unrecorded.status.code, UNSET, 'the delivery itself went on')
  t.equal(errors.length, 1)
})

t.test('the tracer option must be a tracer', async (t) => {
  t.throws(
    () => createWarden({ tokens: { secret: SECRET }, tracer: {} as unknown as SpanTracer }),
    { name: 'TypeError', message: /option tracer/ },
  )
  t.throws(
    () => createWarden({ tokens: { secret: SECRET }, tracer: null as unknown as SpanTracer }),
    { name: 'TypeError', message: /option tracer/ },
  )
})

t.test('a thrown value that is not an Error is recorded as its string', async (t) => {
  const { tracer, spans } = tracing()
  tracer.startActiveSpan('x', {}, (span) => {
    markFailed(span, 'boom')
    span.end()
  })
  const [span] = spans('x') as [ReadableSpan]
  t.same(span.status, { code: ERROR, message: 'boom' })
  t.equal(span.events[0]?.attributes?.['exception.message'], 'boom')
})
