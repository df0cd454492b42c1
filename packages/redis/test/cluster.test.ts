import t from 'tap'
import { storeConformance } from '@ws-warden/store-tests'
import type { SessionRecord } from '@ws-warden/core/stores'
import { ComposedAdmission } from '@ws-warden/core/stores'
import { bucketOf } from '../src/buckets.js'
import { createRedisStores } from '../src/index.js'
import { admitRequests } from './helpers/admission.js'
import { sameAsComposed } from './helpers/sharded.js'
import { keysPerNode, startCluster, sumInfo } from './helpers/cluster.js'
import { randomPrefix, until } from './helpers/redis.js'

// The stores on a real three-master Redis Cluster of the test's own: the conformance suite (every
// script must find its keys in one slot, or Redis answers CROSSSLOT), the key spread over the
// nodes, and sharded pub/sub.
const cluster = await startCluster(t)
const client = cluster.client()
await until(async () => client.status === 'ready', 'the Cluster client', 20_000)

t.test('conformance on the cluster (16 buckets by default)', async (t) => {
  const kinds = await storeConformance({
    register: (name, fn) => void t.test(name, async () => fn()),
    createStores: async () => {
      const stores = await createRedisStores({ client, prefix: randomPrefix() })
      return { ...stores, cleanup: () => stores.close() }
    },
  })
  t.same(kinds, [
    'sessions',
    'tokens',
    'rateLimits',
    'broker',
    'locks',
    'history',
    'resumes',
    'admission',
  ])
})

t.test('an admission is two EVALSHA sent at once: the caps slot and the user bucket', async (t) => {
  const stores = await createRedisStores({ client, prefix: randomPrefix() })
  t.teardown(() => stores.close())
  const admission = stores.admission!
  t.equal(admission.constructor.name, 'RedisShardedAdmissionStore')
  const now = Date.now()
  let n = 0
  const request = (user: string, jti = `jti-${++n}`) => ({
    attempts: [
      { key: 'connect:ip:192.0.2.1', limit: 100 },
      { key: `connect:user:${user}`, limit: 100 },
    ],
    windowMs: 60_000,
    userId: user,
    jti,
    tokenExpiresAt: now + 60_000,
    session: {
      record: {
        id: `conn-${++n}`,
        userId: user,
        instanceId: 'i',
        ip: '192.0.2.1',
        channels: [],
        connectedAt: now,
        lastSeenAt: now,
      },
      caps: { perUser: 1 },
    },
  })
  // Warm every node's script cache (the first call on a connection may EVAL after NOSCRIPT).
  for (let i = 0; i < 16; i++) await admission.admit(request(`warm-${i}`))
  const events: string[] = []
  const nodes = client.nodes('master')
  const sends = nodes.map((node) => node.sendCommand.bind(node))
  nodes.forEach((node, i) => {
    node.sendCommand = (command, stream) => {
      events.push(`send ${command.name}`)
      void command.promise.then(
        () => events.push('reply'),
        () => events.push('reply'),
      )
      return (sends[i] as typeof node.sendCommand)(command, stream)
    }
  })
  try {
    t.same(await admission.admit(request('alice')), { ok: true })
    t.same(events, ['send evalsha', 'send evalsha', 'reply', 'reply'], 'both sent, then answers')
    events.length = 0
    // A refusal of the user side (cap 1): the caps side's reservation is given back.
    t.same(await admission.admit(request('alice')), { ok: false, reason: 'limit', limit: 'user' })
    t.same(events.slice(0, 4), ['send evalsha', 'send evalsha', 'reply', 'reply'])
    t.equal(events.filter((e) => e === 'send evalsha').length, 3, 'one compensating call')
  } finally {
    nodes.forEach((node, i) => (node.sendCommand = sends[i] as typeof node.sendCommand))
  }
  t.equal(await stores.sessions.count({ ip: '192.0.2.1' }), 17, 'the refused one left nothing')
})

t.test('no one-script admission on a cluster with one bucket: the warden composes', async (t) => {
  const stores = await createRedisStores({ client, prefix: randomPrefix(), buckets: 1 })
  t.teardown(() => stores.close())
  t.equal(stores.admission, undefined)
})

t.test('the cluster option: the stores own a Cluster made from seed nodes', async (t) => {
  const errors: unknown[] = []
  const stores = await createRedisStores({
    cluster: { nodes: cluster.seeds.join(',') },
    prefix: randomPrefix(),
    onError: (error) => errors.push(error),
  })
  t.equal(await stores.tokens.consume('jti', Date.now() + 60_000), true)
  t.equal(await stores.tokens.consume('jti', Date.now() + 60_000), false)
  await stores.close()
  await t.rejects(stores.tokens.consume('jti-2', Date.now() + 60_000), 'closed with the stores')
  await t.rejects(createRedisStores({ cluster: { nodes: 'nowhere' } }), {
    name: 'TypeError',
    message:
      'ws-warden: createRedisStores option cluster.nodes must be host:port pairs, got "nowhere"',
  })
  await t.rejects(createRedisStores({ cluster: 'x' as never }), {
    message: 'ws-warden: createRedisStores option cluster must be { nodes, options? }',
  })
  await t.rejects(createRedisStores({ cluster: { nodes: cluster.seeds }, url: 'redis://x' }), {
    message: /needs one of the options client, url and cluster/,
  })
})

t.test('writes spread over every node and many slots', async (t) => {
  // A fixed prefix: where its 16 tags per store land is then the same on every run.
  const prefix = 'spread'
  const stores = await createRedisStores({ client, prefix })
  t.teardown(() => stores.close())
  const now = Date.now()
  const record = (i: number): SessionRecord => ({
    id: `conn-${i}`,
    userId: `user-${i}`,
    instanceId: 'instance',
    ip: `192.0.2.${i % 250}`,
    channels: ['lobby'],
    connectedAt: now,
    lastSeenAt: now,
  })
  for (let i = 0; i < 300; i++) {
    await Promise.all([
      stores.tokens.consume(`jti-${i}`, now + 60_000),
      stores.rateLimits.hit(`connect:ip:198.51.100.${i}`, 20, 60_000),
      stores.sessions.add(record(i), { perUser: 10, perIp: 100, total: 50_000 }),
      stores.resumes.save({
        id: `resume-${i}`,
        userId: `user-${i}`,
        credentialHash: 'h',
        state: '{}',
        expiresAt: now + 60_000,
      }),
    ])
  }
  // The IPs' attempt windows live in the caps slot, beside what an admission reserves there.
  const ipWindows = await keysPerNode(cluster, `{${prefix}:sessions:caps}:rate:*`)
  t.equal(ipWindows.filter((n) => n > 0).length, 1, 'IP windows: in the caps slot')
  t.ok(ipWindows.reduce((a, b) => a + b) >= 300, 'IP windows: 300 and their expiry index')
  // Tokens consumed without an owner keep to the jti's buckets (with one: see the next test).
  const tokens = await keysPerNode(cluster, `{${prefix}:tokens:*`)
  t.ok(
    tokens.every((n) => n > 0),
    `tokens without an owner: every node holds some (${tokens.join(' / ')})`,
  )
  for (const kind of ['sessions', 'resumes']) {
    const perNode = await keysPerNode(cluster, `{${prefix}:${kind}:*`)
    t.comment(`${kind}: keys per node ${perNode.join(' / ')}`)
    t.ok(
      perNode.every((n) => n > 0),
      `${kind}: every node holds some`,
    )
    const slots = new Set<number>()
    for (let bucket = 0; bucket < 16; bucket++) {
      slots.add(await client.cluster('KEYSLOT', `{${prefix}:${kind}:${bucket}}`))
    }
    t.equal(slots.size, 16, `${kind}: 16 buckets, 16 slots`)
  }
  t.equal(await stores.sessions.count(), 300)
  t.equal(await stores.sessions.count({ ip: '192.0.2.7' }), 2)
  t.same(await stores.sessions.stats(), { connections: 300, users: 300, channels: { lobby: 300 } })
})

t.test(
  '1,200 admissions of many users: tokens and user windows spread over the buckets',
  async (t) => {
    const prefix = 'spread-admit'
    const stores = await createRedisStores({ client, prefix })
    t.teardown(() => stores.close())
    const request = admitRequests()
    const answers = await Promise.all(
      Array.from({ length: 1200 }, (_, i) =>
        stores.admission!.admit(request({}, `user-${i % 400}`, `198.51.100.${i % 200}`)),
      ),
    )
    t.equal(answers.filter((a) => a.ok).length, 1200)
    for (const kind of ['tokens:jti', 'rate:win']) {
      const perNode = await keysPerNode(cluster, `{${prefix}:sessions:*}:${kind}:*`)
      t.comment(`${kind}: keys per node ${perNode.join(' / ')}`)
      t.ok(perNode.filter((n) => n > 0).length >= 3, `${kind}: on every node`)
      const slots = new Set<number>()
      for (const admin of cluster.admins) {
        let cursor = '0'
        do {
          const [next, keys] = await admin.scan(cursor, 'MATCH', `{${prefix}:sessions:*}:${kind}:*`)
          cursor = next
          for (const key of keys) {
            if (!key.includes('connect:ip:')) slots.add(await admin.cluster('KEYSLOT', key))
          }
        } while (cursor !== '0')
      }
      t.equal(slots.size, 16, `${kind}: in all 16 user buckets`)
    }
    const tokens = await keysPerNode(cluster, `{${prefix}:sessions:*}:tokens:jti:*`)
    t.equal(
      tokens.reduce((a, b) => a + b),
      1200,
      'one token key per admission',
    )
    const users = await keysPerNode(cluster, `{${prefix}:sessions:*}:rate:win:connect:user:*`)
    t.equal(
      users.reduce((a, b) => a + b),
      400,
      'one window per user',
    )
    t.equal((await stores.rateLimits.hit('connect:user:user-7', 100, 60_000)).remaining, 96)
    t.equal(await stores.sessions.count(), 1200)
    t.equal(await stores.tokens.countSweepable(Date.now() + 3_600_000), 0, 'a sweep walks them all')
  },
)

t.test('the same answers and state as the composed calls, on the cluster', async (t) => {
  const [native, reference] = await Promise.all([
    createRedisStores({ client, prefix: randomPrefix() }),
    createRedisStores({ client, prefix: randomPrefix(), buckets: 1 }),
  ])
  t.teardown(async () => {
    await native.close()
    await reference.close()
  })
  await sameAsComposed(t, native.admission!, new ComposedAdmission(reference), admitRequests())
})

t.test('each refusal path leaves what the composed calls leave, key by key', async (t) => {
  const prefix = randomPrefix()
  const stores = await createRedisStores({ client, prefix })
  t.teardown(() => stores.close())
  const admission = stores.admission!
  const request = admitRequests()
  const caps = `{${prefix}:sessions:caps}`
  const userTag = (user: string) => `{${prefix}:sessions:${bucketOf(user, 16)}}`
  const strict = (user: string, ipLimit: number, userLimit: number, perUser?: number) => {
    const r = request({}, user, '203.0.113.9')
    return {
      ...r,
      attempts: [
        { key: 'connect:ip:203.0.113.9', limit: ipLimit },
        { key: `connect:user:${user}`, limit: userLimit },
      ],
      session: { ...r.session, caps: perUser === undefined ? {} : { perUser } },
    }
  }
  t.same(await admission.admit(strict('ann', 1, 5)), { ok: true })

  // The IP refuses while the user side consumed and inserted: all of that is given back.
  const byIp = strict('bea', 1, 5)
  t.match(await admission.admit(byIp), {
    ok: false,
    reason: 'attempts',
    key: 'connect:ip:203.0.113.9',
  })
  t.equal(
    await client.exists(`${userTag('bea')}:tokens:jti:${byIp.jti}`),
    0,
    'the token given back',
  )
  t.equal(await client.exists(`${userTag('bea')}:rate:win:connect:user:bea`), 0, 'no user window')
  t.equal(await client.zscore(`${userTag('bea')}:rate:expiry`, 'connect:user:bea'), null)
  t.equal(await client.zscore(`${userTag('bea')}:tokens:expiry`, byIp.jti), null)
  t.equal(await stores.sessions.count({ userId: 'bea' }), 0, 'the insert removed')
  t.equal(await client.hlen(`${caps}:ids`), 1, 'no reservation')
  t.equal(await stores.tokens.consume(byIp.jti, byIp.tokenExpiresAt, 'bea'), true, 'usable again')

  // A count-only admission refused by its IP gives its token back too.
  const { session: _, ...countOnly } = strict('cid', 1, 5)
  t.match(await admission.admit(countOnly), { ok: false, reason: 'attempts' })
  t.equal(await stores.tokens.consume(countOnly.jti, countOnly.tokenExpiresAt, 'cid'), true)

  // The user side refuses (attempts, replayed, user cap): the reservation is rolled back.
  t.same(await admission.admit(strict('dan', 100, 1)), { ok: true })
  const byUser = strict('dan', 100, 1)
  t.match(await admission.admit(byUser), { ok: false, reason: 'attempts', key: 'connect:user:dan' })
  t.equal(await client.hlen(`${caps}:ids`), 2, 'ann and dan, no reservation left')
  t.equal(await stores.tokens.consume(byUser.jti, byUser.tokenExpiresAt, 'dan'), true)
  const eve = strict('eve', 100, 5)
  t.same(await admission.admit(eve), { ok: true })
  t.same(await admission.admit({ ...strict('eve', 100, 5), jti: eve.jti }), {
    ok: false,
    reason: 'replayed',
  })
  t.equal(await client.hlen(`${caps}:ids`), 3)
  t.equal(await client.hget(`${caps}:ips`, '203.0.113.9'), '3', 'the IP count is exact')
  t.same(await admission.admit(strict('eve', 100, 5, 1)), {
    ok: false,
    reason: 'limit',
    limit: 'user',
  })
  t.equal(await client.hlen(`${caps}:ids`), 3)

  // The IP cap refuses while the user side inserted: the record goes, the token stays used.
  const full = {
    ...strict('fay', 100, 5),
    session: { ...strict('fay', 100, 5).session, caps: { perIp: 3 } },
  }
  t.same(await admission.admit(full), { ok: false, reason: 'limit', limit: 'ip' })
  t.equal(await stores.sessions.count({ userId: 'fay' }), 0)
  t.equal(await stores.tokens.consume(full.jti, full.tokenExpiresAt, 'fay'), false, 'token used')
  t.equal((await stores.rateLimits.hit('connect:user:fay', 100, 60_000)).remaining, 98, 'counted')
  t.equal(await stores.sessions.count(), 3)
})

t.test('sharded pub/sub: SPUBLISH to one shard, not PUBLISH to every node', async (t) => {
  const prefix = randomPrefix()
  const [a, b] = await Promise.all([
    createRedisStores({ client, prefix }),
    createRedisStores({ cluster: { nodes: cluster.seeds }, prefix }),
  ])
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  const got: string[] = []
  await a.broker.subscribe('room', (payload) => got.push(payload))
  const before = {
    spublish: await sumInfo(cluster, 'cmdstat_spublish:calls', 'commandstats'),
    publish: await sumInfo(cluster, 'cmdstat_publish:calls', 'commandstats'),
    bus: await sumInfo(cluster, 'cluster_stats_messages_publish_sent'),
    shardBus: await sumInfo(cluster, 'cluster_stats_messages_publishshard_sent'),
  }
  for (let i = 0; i < 100; i++) await b.broker.publish('room', `m${i}`)
  await until(() => got.length === 100, '100 deliveries')
  t.same(
    got,
    Array.from({ length: 100 }, (_, i) => `m${i}`),
    'in order, each once',
  )
  t.equal(
    (await sumInfo(cluster, 'cmdstat_spublish:calls', 'commandstats')) - before.spublish,
    100,
    'one SPUBLISH per publish',
  )
  t.equal((await sumInfo(cluster, 'cmdstat_publish:calls', 'commandstats')) - before.publish, 0)
  const bus = (await sumInfo(cluster, 'cluster_stats_messages_publish_sent')) - before.bus
  const shardBus =
    (await sumInfo(cluster, 'cluster_stats_messages_publishshard_sent')) - before.shardBus
  t.equal(bus, 0, 'no PUBLISH copied over the cluster bus')
  t.equal(shardBus, 0, 'and no shard message either: no replicas to copy to')
  t.comment(`100 publishes: ${bus} publish and ${shardBus} publishshard cluster-bus messages`)

  // The counter does see a global PUBLISH: one copy to each other node.
  const control = await sumInfo(cluster, 'cluster_stats_messages_publish_sent')
  for (let i = 0; i < 10; i++) await client.publish(`${prefix}:control`, 'x')
  t.equal((await sumInfo(cluster, 'cluster_stats_messages_publish_sent')) - control, 20)

  // And the other way: a subscription through the stores made from seed nodes (their defaults).
  const back: string[] = []
  await b.broker.subscribe('reply', (payload) => back.push(payload))
  await a.broker.publish('reply', 'pong')
  await until(() => back.length === 1, 'the reply')

  const end = await a.broker.subscribe('other', () => {})
  await end()
  await b.broker.publish('room', 'last')
  await until(() => got.length === 101, 'the delivery after another topic ended')
})
