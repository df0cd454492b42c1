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
  t.equal(value(text, 'chat_store_errors_total{store="rateLimits"}'), 1)
  t.equal(value(text, 'chat_handshakes_rejected_total{reason="store_unavailable"}'), 1)
  stop()
  await connect('bob')
  text = await registry.metrics()
  t.equal(value(text, 'chat_store_errors_total{store="rateLimits"}'), 1)
})
