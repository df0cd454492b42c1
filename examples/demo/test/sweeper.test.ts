import t from 'tap'
import type { SweepReport } from '@ws-warden/core'
import type { SessionRecord } from '@ws-warden/core/stores'
import { parseConfig } from '../src/config.js'
import { jsonLogger } from '../src/log.js'
import { createStores } from '../src/stores.js'
import { startDemo, until } from './helpers.js'

/** The core's sweep lock name: every instance takes it before sweeping. */
const SWEEP_LOCK = 'sweep'

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

const memoryStores = () => createStores(parseConfig({}), jsonLogger(false))

t.test('the in-process sweeper removes records past the heartbeat deadline only', async (t) => {
  const stores = await memoryStores()
  const now = Date.now()
  // Past interval + timeout (35 s with the defaults), though within the core's default of three
  // intervals (75 s): the demo sweeps at the heartbeat deadline.
  await stores.sessions.add(orphan(now - 40_000))
  await stores.sessions.add({ ...orphan(now - 1_000), id: 'live-1', instanceId: 'another' })
  const { demo } = await startDemo(t, { WARDEN_SWEEP_INTERVAL_MS: '50' }, { stores })
  const reports: SweepReport[] = []
  demo.warden.observe({ swept: (report) => void reports.push(report) })
  await until(() => reports.length > 0)
  t.match(reports[0], { sessions: 1, tokens: 0, rateLimits: 0 })
  t.notOk(await stores.sessions.get('orphan-1'), 'the dead connection is gone')
  t.ok(await stores.sessions.get('live-1'), "another instance's live connection stays")
})

t.test(
  "/api/stats stops counting a dead instance's connections once a sweep has run",
  async (t) => {
    const stores = await memoryStores()
    await stores.sessions.add(orphan(Date.now() - 60_000))
    const { http, connect } = await startDemo(t, { WARDEN_SWEEP_INTERVAL_MS: '50' }, { stores })
    const alice = await connect('alice')
    await alice.request({ type: 'join', channel: 'general' }, 'joined')
    const stats = async () => (await (await http('/api/stats')).json()) as unknown
    await until(async () => ((await stats()) as { users: number }).users === 1)
    t.same(await stats(), { connections: 1, users: 1, channels: { general: 1 } })
  },
)

t.test('the sweeper takes the lock of the demo stores: one sweeper at a time', async (t) => {
  const stores = await memoryStores()
  const { demo } = await startDemo(t, {}, { stores })
  const release = await stores.locks.acquire(SWEEP_LOCK, 60_000)
  t.ok(release, 'another process sweeps')
  t.equal(await demo.warden.sweepExclusive(), null, 'so this one does not')
  await release?.()
  t.match(await demo.warden.sweepExclusive(), { sessions: 0 }, 'until it is done')
})
