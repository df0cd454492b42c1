import t from 'tap'
import type { SessionRecord } from '@ws-warden/core/stores'
import { createRedisStores } from '../src/index.js'
import { startCluster, sumInfo, type TestCluster } from './helpers/cluster.js'
import { until } from './helpers/redis.js'

// A slot migration during load costs retries, not refusals: admissions (attempts per IP and per
// user, a token consume, a session add under caps, some removes and touches) run while every
// slot of the stores' keys on one master moves to another, 10 keys at a time (CLUSTER SETSLOT
// MIGRATING/IMPORTING, MIGRATE, SETSLOT NODE), the way `redis-cli --cluster reshard` does it.
// The stores come from the `cluster` option, so it is its defaults that must absorb the ASK,
// TRYAGAIN and MOVED answers. Bounded: at most MAX_ADMISSIONS, and DEADLINE_MS.
const MAX_ADMISSIONS = 4000
const DEADLINE_MS = 60_000
const WORKERS = 8
const prefix = 'reshard'

const cluster = await startCluster(t)
const stores = await createRedisStores({ cluster: { nodes: cluster.seeds }, prefix })
t.teardown(() => stores.close())

/** The slots of every tag of the stores (16 buckets each, and the session caps). */
async function storeSlots(cluster: TestCluster): Promise<Set<number>> {
  const tags = [`{${prefix}:sessions:caps}`]
  for (const kind of ['sessions', 'tokens', 'rate', 'resumes']) {
    for (let bucket = 0; bucket < 16; bucket++) tags.push(`{${prefix}:${kind}:${bucket}}`)
  }
  const admin = cluster.admins[0]!
  return new Set(await Promise.all(tags.map((tag) => admin.cluster('KEYSLOT', tag))))
}

/** The master (index in `cluster.admins`) serving each slot, from CLUSTER SLOTS. */
async function owners(cluster: TestCluster): Promise<Map<number, number>> {
  const ranges = (await cluster.admins[0]!.cluster('SLOTS')) as unknown as [
    number,
    number,
    [string, number],
  ][]
  const byPort = new Map<number, number>()
  for (const [from, to, [, port]] of ranges) {
    for (let slot = from; slot <= to; slot++) byPort.set(slot, cluster.ports.indexOf(port))
  }
  return byPort
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Moves `slots` from master `from` to master `to`, 10 keys at a time as `redis-cli --cluster
 * reshard` does (its `--cluster-pipeline` default), pausing between batches.
 */
async function migrate(cluster: TestCluster, slots: number[], from: number, to: number) {
  const source = cluster.admins[from]!
  const target = cluster.admins[to]!
  const [sourceId, targetId] = await Promise.all([
    source.cluster('MYID') as Promise<string>,
    target.cluster('MYID') as Promise<string>,
  ])
  let moved = 0
  for (const slot of slots) {
    await target.cluster('SETSLOT', slot, 'IMPORTING', sourceId)
    await source.cluster('SETSLOT', slot, 'MIGRATING', targetId)
    for (;;) {
      const keys = (await source.cluster('GETKEYSINSLOT', slot, 10)) as string[]
      if (keys.length === 0) break
      await source.migrate('127.0.0.1', cluster.ports[to]!, '', 0, 5000, 'KEYS', ...keys)
      moved += keys.length
      await sleep(5)
    }
    await target.cluster('SETSLOT', slot, 'NODE', targetId)
    await source.cluster('SETSLOT', slot, 'NODE', targetId)
    for (const admin of cluster.admins) await admin.cluster('SETSLOT', slot, 'NODE', targetId)
  }
  return moved
}

t.test('moving the slots of the stores under load: zero failed operations', async (t) => {
  const caps = { perUser: 10, perIp: 1000, total: 100_000 }
  const now = Date.now()
  const record = (i: number): SessionRecord => ({
    id: `conn-${i}`,
    userId: `user-${i % 500}`,
    instanceId: 'instance',
    ip: `192.0.2.${i % 200}`,
    channels: [],
    connectedAt: now,
    lastSeenAt: now,
  })
  const failures: unknown[] = []
  const refusals: string[] = []
  let next = 0
  let admitted = 0
  let removed = 0
  let duringMigration = 0
  let migrating = false
  let migrated = false
  const deadline = Date.now() + DEADLINE_MS

  async function admission(i: number): Promise<void> {
    const ip = await stores.rateLimits.hit(`connect:ip:192.0.2.${i % 200}`, 1000, 60_000)
    const user = await stores.rateLimits.hit(`connect:user:user-${i % 500}`, 1000, 60_000)
    if (!ip.allowed || !user.allowed) refusals.push(`attempts ${i}`)
    if (!(await stores.tokens.consume(`jti-${i}`, now + 60_000))) refusals.push(`token ${i}`)
    const added = await stores.sessions.add(record(i), caps)
    if (!added.ok) refusals.push(`add ${i}: ${added.limit}`)
    else admitted++
    if (i % 4 === 3) {
      // A connection that leaves, and the heartbeat of those that stay.
      if (await stores.sessions.remove(`conn-${i - 2}`)) removed++
      await stores.sessions.touch([`conn-${i - 1}`, `conn-${i - 3}`], now + i)
    }
  }

  async function worker(): Promise<void> {
    while (!migrated && next < MAX_ADMISSIONS && Date.now() < deadline) {
      const i = next++
      const during = migrating
      try {
        await admission(i)
      } catch (error) {
        failures.push(error)
      }
      if (during && migrating) duringMigration++
    }
  }

  const before = {
    ask: await sumInfo(cluster, 'errorstat_ASK:count', 'errorstats'),
    tryAgain: await sumInfo(cluster, 'errorstat_TRYAGAIN:count', 'errorstats'),
    moved: await sumInfo(cluster, 'errorstat_MOVED:count', 'errorstats'),
  }
  const load = Promise.all(Array.from({ length: WORKERS }, worker))
  // Let the load build data first, so that every slot has keys to migrate.
  while (next < 400 && Date.now() < deadline) await sleep(10)
  const slotOwners = await owners(cluster)
  // A broker subscription whose channel's slot moves too.
  let topic = ''
  for (let n = 0; topic === ''; n++) {
    const slot = await cluster.admins[0]!.cluster('KEYSLOT', `${prefix}:topic:room-${n}`)
    if (slotOwners.get(slot) === 0) topic = `room-${n}`
  }
  const got: string[] = []
  await stores.broker.subscribe(topic, (payload) => got.push(payload))
  const channelSlot = await cluster.admins[0]!.cluster('KEYSLOT', `${prefix}:topic:${topic}`)
  const slots = [...(await storeSlots(cluster)), channelSlot].filter(
    (slot, i, all) => slotOwners.get(slot) === 0 && all.indexOf(slot) === i,
  )
  migrating = true
  const keysMoved = await migrate(cluster, slots, 0, 1)
  migrating = false
  migrated = true
  await load

  const errors = {
    ask: (await sumInfo(cluster, 'errorstat_ASK:count', 'errorstats')) - before.ask,
    tryAgain: (await sumInfo(cluster, 'errorstat_TRYAGAIN:count', 'errorstats')) - before.tryAgain,
    moved: (await sumInfo(cluster, 'errorstat_MOVED:count', 'errorstats')) - before.moved,
  }
  t.comment(
    `${next} admissions, ${duringMigration} during the migration of ${slots.length} slots ` +
      `(${keysMoved} keys); redirections answered: ${errors.ask} ASK, ` +
      `${errors.tryAgain} TRYAGAIN, ${errors.moved} MOVED`,
  )
  t.same(failures, [], 'no operation failed')
  t.same(refusals, [], 'nothing was refused')
  t.ok(slots.length > 0 && keysMoved > 0, 'slots with keys moved')
  t.ok(duringMigration > 0, 'admissions ran during the migration')
  t.ok(errors.ask + errors.tryAgain + errors.moved > 0, 'and the cluster redirected some')
  const after = await owners(cluster)
  t.ok(
    slots.every((slot) => after.get(slot) === 1),
    'the slots belong to the target now',
  )
  t.equal(await stores.sessions.count(), admitted - removed, 'every record counted once')
  t.equal((await stores.sessions.stats()).connections, admitted - removed)
  t.equal(await stores.tokens.consume('jti-0', now + 60_000), false, 'a used token stays used')
  // ioredis resubscribes a shard channel whose slot moved; a publish may race the resubscribe,
  // so publish until one arrives (bounded).
  await until(
    async () => {
      await stores.broker.publish(topic, 'after the move')
      await sleep(50)
      return got.length > 0
    },
    'a delivery on the moved channel',
    10_000,
  )
  t.ok(got.every((payload) => payload === 'after the move'))
})
