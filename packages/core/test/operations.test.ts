import t from 'tap'
import type { SweepReport } from '../src/index.js'
import type { SessionRecord } from '../src/stores.js'
import {
  MemoryLockStore,
  MemoryRateLimitStore,
  MemorySessionStore,
  MemoryTokenStore,
} from '../src/stores.js'
import { startServer, until } from './helpers/server.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function orphan(id: string, lastSeenAt: number): SessionRecord {
  return {
    id,
    userId: 'ghost',
    instanceId: 'crashed',
    ip: '10.0.0.9',
    channels: ['room'],
    connectedAt: lastSeenAt,
    lastSeenAt,
  }
}

t.test('sweep removes exactly the stale records and returns counts per kind', async (t) => {
  const sessions = new MemorySessionStore()
  const tokens = new MemoryTokenStore()
  const rateLimits = new MemoryRateLimitStore()
  const { warden, connect } = await startServer(t, {
    stores: { sessions, tokens, rateLimits },
    sweeper: false,
  })
  await connect('alive')
  await until(() => [...warden.connections()].length === 1)
  const now = Date.now()
  await sessions.add(orphan('orphan-1', now - 600_000))
  await sessions.add(orphan('orphan-2', now - 600_000))
  await sessions.add(orphan('recent', now - 1_000))
  await tokens.consume('old-jti', now + 30)
  await rateLimits.hit('old-key', 5, 30)
  await sleep(60)

  const report = await warden.sweep({ tokenAgeMs: 0, rateLimitAgeMs: 0 })
  t.same({ ...report, durationMs: 0 }, { sessions: 2, tokens: 1, rateLimits: 1, durationMs: 0 })
  t.equal(await sessions.count({ userId: 'alive' }), 1, 'the live connection survives')
  t.ok(await sessions.get('recent'), 'a recently touched record survives')
  t.same((await warden.stats()).cluster.channels, { room: 1 }, 'orphans no longer counted')

  const quiet = await warden.sweep({ sessions: false, tokens: false, rateLimits: false })
  t.same({ ...quiet, durationMs: 0 }, { sessions: 0, tokens: 0, rateLimits: 0, durationMs: 0 })
})

t.test('a live connection is never swept, even with a tiny stale age', async (t) => {
  const sessions = new MemorySessionStore()
  const { warden, connect } = await startServer(t, {
    stores: { sessions },
    heartbeat: false,
    sweeper: false,
  })
  await connect('alice')
  await until(() => [...warden.connections()].length === 1)
  await sleep(20)
  const report = await warden.sweep({ sessionStaleMs: 10 })
  t.equal(report.sessions, 0)
  t.equal(await sessions.count(), 1)
})

t.test('of two instances sharing a lock store, only one sweeps at a time', async (t) => {
  const locks = new MemoryLockStore()
  const base = new MemorySessionStore()
  let running = 0
  let overlapped = false
  const slowSessions = Object.assign(Object.create(base) as MemorySessionStore, {
    sweep: async (before: number) => {
      running++
      if (running > 1) overlapped = true
      await sleep(50)
      running--
      return base.sweep(before)
    },
  })
  const one = await startServer(t, { stores: { locks, sessions: slowSessions }, sweeper: false })
  const two = await startServer(t, { stores: { locks, sessions: slowSessions }, sweeper: false })
  const results = await Promise.all([one.warden.sweepExclusive(), two.warden.sweepExclusive()])
  t.equal(results.filter((result) => result === null).length, 1, 'one was refused the lock')
  t.equal(results.filter((result) => result !== null).length, 1, 'one swept')
  t.notOk(overlapped)
  t.not(await two.warden.sweepExclusive(), null, 'the lock is released afterwards')
})

t.test('the in-process sweeper runs on its schedule and reports to observers', async (t) => {
  const sessions = new MemorySessionStore()
  await sessions.add(orphan('orphan', Date.now() - 600_000))
  const { warden } = await startServer(t, { stores: { sessions }, sweeper: { intervalMs: 30 } })
  const reports: SweepReport[] = []
  warden.observe({ swept: (report) => reports.push(report) })
  await until(() => reports.length > 0)
  t.equal(reports[0]?.sessions, 1)
  t.equal(await sessions.count(), 0)
})

t.test('a failing store does not crash the sweeper; the error is reported', async (t) => {
  const errors: unknown[] = []
  const base = new MemorySessionStore()
  const broken = Object.assign(Object.create(base) as MemorySessionStore, {
    sweep: async () => {
      throw new Error('database gone')
    },
  })
  await startServer(t, {
    stores: { sessions: broken },
    sweeper: { intervalMs: 20 },
    hooks: { onError: (e) => errors.push(e) },
  })
  await until(() => errors.length > 0)
  t.match(errors[0], { code: 'store_unavailable', store: 'sessions' })
})

t.test('observers see admissions, rejections, traffic, store errors and disconnects', async (t) => {
  const events: string[] = []
  const hanging = new MemoryRateLimitStore()
  let hang = false
  const rateLimits = Object.assign(Object.create(hanging) as MemoryRateLimitStore, {
    hit: (key: string, limit: number, windowMs: number) =>
      hang ? new Promise<never>(() => {}) : hanging.hit(key, limit, windowMs),
  })
  const { warden, connect, open, url } = await startServer(t, {
    stores: { rateLimits },
    storeTimeoutMs: 50,
    handlers: { echo: ({ reply }) => void reply({ type: 'echo' }) },
  })
  const stop = warden.observe({
    admitted: (ms) => events.push(`admitted:${ms >= 0}`),
    rejected: (reason) => events.push(`rejected:${reason}`),
    connected: () => events.push('connected'),
    disconnected: (cause) => events.push(`disconnected:${cause}`),
    received: (bytes) => events.push(`received:${bytes}`),
    sent: (bytes) => events.push(`sent:${bytes}`),
    storeError: (store) => events.push(`storeError:${store}`),
  })
  warden.observe({})
  const client = await connect('alice')
  client.send({ type: 'echo' })
  await client.next((m) => m.type === 'echo')
  await open(url)
  hang = true
  await connect('bob')
  client.socket.close()
  await until(() => events.includes('disconnected:client'))
  t.same(events, [
    'admitted:true',
    'connected',
    'received:15',
    'sent:15',
    'rejected:token_missing',
    'storeError:rateLimits',
    'rejected:store_unavailable',
    'disconnected:client',
  ])
  stop()
  hang = false
  await connect('carol')
  t.equal(events.length, 8, 'a stopped observer hears nothing more')
})
