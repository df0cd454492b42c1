import t from 'tap'
import { Registry } from 'prom-client'
import { MemorySessionStore } from '../src/stores.js'
import { prometheusMetrics } from '../src/prometheus.js'
import { startServer, until } from './helpers/server.js'

function value(text: string, metric: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric} `))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}

t.test(
  'metrics change as connections come and go; no label carries an id or a token',
  async (t) => {
    const registry = new Registry()
    const sessions = new MemorySessionStore()
    const { warden, connect, open, url } = await startServer(t, {
      stores: { sessions },
      sweeper: false,
      handlers: { echo: ({ reply }) => void reply({ type: 'echo' }) },
    })
    prometheusMetrics(warden, { registry })

    const client = await connect('alice')
    await until(() => [...warden.connections()].length === 1)
    let text = await registry.metrics()
    t.equal(value(text, 'ws_warden_connections'), 1)
    t.equal(value(text, 'ws_warden_handshakes_total{result="accepted"}'), 1)

    client.send({ type: 'echo' })
    await client.next((m) => m.type === 'echo')
    const { token } = await warden.issueToken({ userId: 'bob', permissions: [] })
    await open(`${url}?ws_token=${token}`)
    await open(`${url}?ws_token=${token}`)
    client.socket.close()
    await until(() => [...warden.connections()].length === 1)
    await sessions.add({
      id: 'orphan',
      userId: 'ghost',
      instanceId: 'gone',
      ip: '10.0.0.1',
      channels: [],
      connectedAt: 0,
      lastSeenAt: 0,
    })
    await warden.sweep()

    text = await registry.metrics()
    t.equal(value(text, 'ws_warden_connections'), 1)
    t.equal(value(text, 'ws_warden_handshakes_total{result="accepted"}'), 2)
    t.equal(value(text, 'ws_warden_handshakes_rejected_total{reason="token_replayed"}'), 1)
    t.equal(value(text, 'ws_warden_disconnects_total{cause="client"}'), 1)
    t.equal(value(text, 'ws_warden_messages_received_total'), 1)
    t.equal(value(text, 'ws_warden_received_bytes_total'), 15)
    t.equal(value(text, 'ws_warden_messages_sent_total'), 1)
    t.equal(value(text, 'ws_warden_sweeps_total'), 1)
    t.equal(value(text, 'ws_warden_swept_records_total{kind="sessions"}'), 1)
    t.equal(value(text, 'ws_warden_admission_duration_seconds_count'), 3)
    t.notOk(text.includes(token), 'no token in any metric')
    t.notOk(/alice|bob/.test(text), 'no user id in any label')
  },
)

t.test('a custom prefix; store errors are counted by store; stopping detaches', async (t) => {
  const registry = new Registry()
  const { warden, connect } = await startServer(t, {
    sweeper: false,
    storeTimeoutMs: 30,
    stores: {
      rateLimits: { hit: () => new Promise(() => {}), sweep: async () => 0 },
    },
  })
  const stop = prometheusMetrics(warden, { registry, prefix: 'chat_' })
  await connect('alice')
  let text = await registry.metrics()
  t.equal(value(text, 'chat_store_errors_total{store="rate_limits"}'), 1)
  t.equal(value(text, 'chat_handshakes_rejected_total{reason="store_unavailable"}'), 1)
  stop()
  await connect('bob')
  text = await registry.metrics()
  t.equal(value(text, 'chat_store_errors_total{store="rate_limits"}'), 1)
})

/** Every label value of an exposition that is not snake_case (bucket bounds aside). */
function offConvention(text: string): string[] {
  const off: string[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    for (const [, label, value] of line.matchAll(/([a-z_]+)="([^"]*)"/g)) {
      if (label === 'le') continue
      if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(value as string)) off.push(`${label}="${value}"`)
    }
  }
  return off
}

t.test('the convention check catches a mixed label value', async (t) => {
  t.same(offConvention('x_total{store="rateLimits"} 1\nx_total{store="rate_limits"} 1'), [
    'store="rateLimits"',
  ])
  t.same(offConvention('x_bucket{le="+Inf",store="rate-limits"} 1'), ['store="rate-limits"'])
})

t.test(
  'store latency by store and operation, drops, resumptions; every label value snake_case',
  async (t) => {
    const registry = new Registry()
    const { warden, connect, connections, url, open } = await startServer(t, {
      resumption: true,
      send: { maxBufferedBytes: 1_024 },
      limits: { messagesPerSecond: 1, messageBurst: 1 },
      handlers: { echo: ({ reply }) => void reply({ type: 'echo' }) },
    })
    prometheusMetrics(warden, { registry })
    const client = await connect('alice')
    await client.next((m) => m.type === '$session')
    client.send({ type: 'echo' })
    client.send({ type: 'echo' })
    await client.next((m) => m.code === 'rate_limited')
    await open(
      `${url}?ws_token=${(await warden.issueToken({ userId: 'bob', permissions: [] })).token}&ws_resume=x.y`,
    )
    await until(() => connections.length === 2)
    warden.send((connections[1] as { id: string }).id, { type: 'big', pad: 'x'.repeat(2_000) })
    await warden.sweep()
    await until(() => [...warden.connections()].length === 1)

    const text = await registry.metrics()
    const count = (labels: string) =>
      value(text, `ws_warden_store_duration_seconds_count{${labels}}`)
    // The warden's own memory stores admit in one step.
    t.equal(count('store="admission",operation="admit"'), 2)
    t.equal(count('store="rate_limits",operation="hit"'), undefined)
    t.equal(count('store="resumes",operation="claim"'), 1)
    t.equal(count('store="rate_limits",operation="sweep"'), 1)
    t.ok(
      text.includes(
        'ws_warden_store_duration_seconds_bucket{le="0.0001",store="admission",operation="admit"}',
      ),
    )
    t.ok((value(text, 'ws_warden_messages_dropped_total{reason="rate_limited"}') ?? 0) >= 1)
    t.equal(value(text, 'ws_warden_messages_dropped_total{reason="slow_consumer"}'), 1)
    t.equal(value(text, 'ws_warden_resumptions_total{result="failed",reason="unknown"}'), 1)
    t.equal(value(text, 'ws_warden_disconnects_total{cause="slow_consumer"}'), 1)
    t.equal(value(text, 'ws_warden_swept_records_total{kind="rate_limits"}'), 0)
    t.same(offConvention(text), [], 'every label value is snake_case')
  },
)
