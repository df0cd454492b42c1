import t from 'tap'
import type { SessionRecord } from '@ws-warden/core'
import { parseConfig } from '../src/config.js'
import { createStores } from '../src/stores.js'
import { sweep } from '../src/sweeper.js'
import { startDemo, until } from './helpers.js'

/** A session record left behind by an instance that died without closing it. */
function orphan(lastSeenAt: number): SessionRecord {
  return {
    id: 'orphan-1',
    userId: 'ghost',
    instanceId: 'crashed-instance',
    ip: '10.0.0.9',
    channels: ['general'],
    connectedAt: lastSeenAt,
    lastSeenAt,
  }
}

t.test('a sweep removes records past their heartbeat deadline, not live ones', async (t) => {
  const stores = createStores(parseConfig({}))
  t.teardown(() => stores.close())
  const now = Date.now()
  await stores.sessions.add(orphan(now - 40_000))
  await stores.sessions.add({ ...orphan(now - 1_000), id: 'live-1', userId: 'alice' })
  const report = await sweep(stores, now, 35_000)
  t.same(report, { sessions: 1, tokens: 0, rateLimits: 0 })
  t.equal(await stores.sessions.count(), 1)
  t.ok(await stores.sessions.get('live-1'))
})

t.test(
  "/api/stats stops counting a dead instance's connections once a sweep has run",
  async (t) => {
    const stores = createStores(parseConfig({}))
    await stores.sessions.add(orphan(Date.now() - 60_000))
    const { http, connect } = await startDemo(t, { WARDEN_SWEEP_INTERVAL_MS: '50' }, { stores })
    const alice = await connect('alice')
    await alice.request({ type: 'join', channel: 'general' }, 'joined')
    const stats = async () => (await (await http('/api/stats')).json()) as unknown
    await until(async () => ((await stats()) as { users: number }).users === 1)
    t.same(await stats(), { connections: 1, users: 1, channels: { general: 1 } })
  },
)
