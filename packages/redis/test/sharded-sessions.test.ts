import t, { type Test } from 'tap'
import type { SessionRecord } from '@ws-warden/core/stores'
import { RedisSessionStore, RedisTokenStore } from '../src/index.js'
import { bucketOf } from '../src/buckets.js'
import { deleteKeys, randomPrefix, sharedRedis } from './helpers/redis.js'

// The bucketed session registry (the default on a Cluster), on the standalone Redis: its key
// layout, and how it heals what an instance dying between the two phases of an add leaves.
const redis = await sharedRedis(t)

if (redis !== undefined) {
  const client = redis
  const setup = (t: Test) => {
    const prefix = randomPrefix()
    t.teardown(async () => void (await deleteKeys(client, prefix)))
    const sessions = new RedisSessionStore({ client, prefix, buckets: 16 })
    const caps = (name: string) => `{${prefix}:sessions:caps}:${name}`
    const bucket = (userId: string, name: string) =>
      `{${prefix}:sessions:${bucketOf(userId, 16)}}:${name}`
    return { prefix, sessions, caps, bucket }
  }
  const record = (id: string, fields: Partial<SessionRecord> = {}): SessionRecord => ({
    id,
    userId: 'user',
    instanceId: 'instance',
    ip: '203.0.113.1',
    channels: [],
    connectedAt: 1,
    lastSeenAt: 1,
    ...fields,
  })

  t.test('a user bucket holds the records; the caps keys the directory and counts', async (t) => {
    const { prefix, sessions, caps, bucket } = setup(t)
    await sessions.add(record('c1', { channels: ['room'] }))
    await sessions.add(record('c2', { userId: 'other', ip: '2001:db8::' }))
    t.not(bucketOf('user', 16), bucketOf('other', 16), 'two users, two buckets')
    t.equal((await client.hget(bucket('user', 'records'), 'c1')) !== null, true)
    t.equal((await client.hget(bucket('other', 'records'), 'c2')) !== null, true)
    t.same(await client.hgetall(caps('ids')), {
      c1: `${bucketOf('user', 16)}:203.0.113.1`,
      c2: `${bucketOf('other', 16)}:2001:db8::`,
    })
    t.same(await client.hgetall(caps('ips')), { '203.0.113.1': '1', '2001:db8::': '1' })
    await sessions.touch(['c1', 'c2', 'unknown'], 50)
    t.equal(await client.zscore(caps('seen'), 'c1'), '50', 'touch moves the caps lastSeenAt too')
    t.equal((await sessions.get('c2'))?.lastSeenAt, 50)
    await sessions.remove('c1')
    await sessions.remove('c2')
    t.same(await client.keys(`*${prefix}*`), [], 'nothing is left once the last record goes')
  })

  t.test('a token store with buckets: the jti picks the tag', async (t) => {
    const { prefix } = setup(t)
    const tokens = new RedisTokenStore({ client, prefix, buckets: 16 })
    await tokens.consume('a-jti', Date.now() + 60_000)
    const tag = `{${prefix}:tokens:${bucketOf('a-jti', 16)}}`
    t.same((await client.keys(`*${prefix}*`)).sort(), [`${tag}:expiry`, `${tag}:jti:a-jti`])
    t.equal(await tokens.countSweepable(Date.now() + 120_000), 0, 'not expired yet')
  })

  t.test('a failed insert rolls its reservation back', async (t) => {
    const { sessions, caps, bucket } = setup(t)
    await client.set(bucket('user', 'records'), 'not a hash')
    await t.rejects(sessions.add(record('c1'), { total: 1 }), { message: /WRONGTYPE/ })
    t.equal(await client.hlen(caps('ids')), 0, 'no entry left')
    await client.del(bucket('user', 'records'))
    t.same(await sessions.add(record('c1'), { total: 1 }), { ok: true }, 'the cap is free')
  })

  t.test('a refused insert keeps an existing entry as it was', async (t) => {
    const { sessions, caps } = setup(t)
    await sessions.add(record('mine'))
    await sessions.add(record('theirs', { userId: 'user-2', ip: '198.51.100.1', lastSeenAt: 7 }))
    const takeover = record('theirs', { ip: '198.51.100.2' })
    t.same(await sessions.add(takeover, { perUser: 1 }), { ok: false, limit: 'user' })
    t.equal(await client.hget(caps('ids'), 'theirs'), `${bucketOf('user-2', 16)}:198.51.100.1`)
    t.equal(await client.zscore(caps('seen'), 'theirs'), '7')
    t.same(await client.hgetall(caps('ips')), { '203.0.113.1': '1', '198.51.100.1': '1' })
    t.same(await sessions.add(takeover, { perUser: 2 }), { ok: true }, 'moves to its new user')
    t.same(await sessions.listByUser('user-2'), [])
    t.equal(await sessions.count({ ip: '198.51.100.2' }), 1)
    t.same(await client.hgetall(caps('ips')), { '203.0.113.1': '1', '198.51.100.2': '1' })
  })

  t.test('a reserve the IP or total cap refuses leaves the caps keys as they were', async (t) => {
    const { prefix, sessions, caps } = setup(t)
    t.same(await sessions.add(record('c1'), { perIp: 0 }), { ok: false, limit: 'ip' })
    t.same(await sessions.add(record('c1'), { total: 0 }), { ok: false, limit: 'total' })
    t.same(await client.keys(`*${prefix}*`), [], 'a refusal on an empty registry writes nothing')
    await sessions.add(record('c1'))
    await sessions.add(record('c2', { userId: 'other', ip: '198.51.100.1' }))
    const state = async () => ({
      ids: await client.hgetall(caps('ids')),
      ips: await client.hgetall(caps('ips')),
      seen: await client.zrange(caps('seen'), '0', '-1', 'WITHSCORES'),
    })
    const before = await state()
    t.same(before.ips, { '203.0.113.1': '1', '198.51.100.1': '1' })
    const refusals: [SessionRecord, object, string][] = [
      [record('c3', { userId: 'third' }), { perIp: 1 }, 'ip'],
      [record('c3', { userId: 'third', ip: '192.0.2.1' }), { total: 2 }, 'total'],
      [record('c1', { ip: '198.51.100.1' }), { perIp: 1 }, 'ip'],
    ]
    for (const [added, capped, limit] of refusals) {
      t.same(await sessions.add(added, capped), { ok: false, limit })
      t.same(await state(), before, `refused on ${limit}: ${added.id} at ${added.ip}`)
    }
    // An id already held counts once: at its own IP's cap and at the total it is let in.
    t.same(await sessions.add(record('c1', { lastSeenAt: 5 }), { perIp: 1, total: 2 }), {
      ok: true,
    })
    t.equal(await client.zscore(caps('seen'), 'c1'), '5')
    t.same(await sessions.add(record('c1', { ip: '192.0.2.1' }), { perIp: 1, total: 2 }), {
      ok: true,
    })
    t.same(await client.hgetall(caps('ips')), { '192.0.2.1': '1', '198.51.100.1': '1' })
  })

  t.test(
    'a reserve that finds ttlMs left leaves the lifetimes of the caps keys alone',
    async (t) => {
      const { prefix } = setup(t)
      const ttlMs = 6_400_000
      const sessions = new RedisSessionStore({ client, prefix, buckets: 16, ttlMs })
      const keys = ['ids', 'ips', 'seen'].map((name) => `{${prefix}:sessions:caps}:${name}`)
      const deadlines = async () => Promise.all(keys.map((key) => client.pexpiretime(key)))
      const before = Date.now()
      await sessions.add(record('c1'))
      const first = await deadlines()
      for (const at of first) {
        t.ok(at >= before + ttlMs && at <= Date.now() + ttlMs + 100_000, 'ttlMs, to 1/64 more')
      }
      const next = Date.now()
      await sessions.add(record('c2', { userId: 'u2', ip: '198.51.100.2' }))
      t.same(await deadlines(), first, 'no caps key was refreshed')
      for (const at of first) t.ok(at >= next + ttlMs, 'and each still outlives ttlMs from now')
      const older = client.multi()
      for (const key of keys) older.pexpire(key, ttlMs - 1000)
      await older.exec()
      const again = Date.now()
      await sessions.add(record('c3', { userId: 'u3' }))
      for (const at of await deadlines())
        t.ok(at >= again + ttlMs, 'less left: every key refreshed')
    },
  )

  t.test('sweep heals what a dead instance left between the phases', async (t) => {
    const { sessions, caps, bucket } = setup(t)
    // A reservation whose insert never came, one whose entry lost its record, a stray seen.
    await client.hset(caps('ids'), 'orphan', '3:203.0.113.1')
    await client.hincrby(caps('ips'), '203.0.113.1', 1)
    await client.zadd(caps('seen'), 5, 'orphan', 5, 'stray')
    // A record without an entry (its remove released the entry, then the instance died).
    await sessions.add(record('entryless', { userId: 'u9' }))
    await client.hdel(caps('ids'), 'entryless')
    await client.hincrby(caps('ips'), '203.0.113.1', -1)
    await client.zrem(caps('seen'), 'entryless')
    await sessions.add(record('fresh', { lastSeenAt: 100 }))
    t.same(await sessions.add(record('x', { userId: 'x' }), { perIp: 2 }), {
      ok: false,
      limit: 'ip',
    })
    t.equal(await sessions.countSweepable(10), 1, 'the records a sweep would remove')
    t.equal(await sessions.sweep(10), 1, 'the entryless record')
    t.same(await client.hkeys(caps('ids')), ['fresh'])
    t.same(await client.zrange(caps('seen'), '0', '-1'), ['fresh'])
    t.same(await client.hgetall(caps('ips')), { '203.0.113.1': '1' }, 'counts healed')
    t.equal(await client.hexists(bucket('u9', 'records'), 'entryless'), 0)
    t.same(await sessions.add(record('x', { userId: 'x' }), { perIp: 2 }), { ok: true })
  })

  t.test('an entry whose record is stale in its bucket only goes with it', async (t) => {
    const { sessions, caps } = setup(t)
    await sessions.add(record('gone', { lastSeenAt: 5 }))
    // The bucket says fresh, the caps stale.
    await sessions.touch(['gone'], 50)
    await client.zadd(caps('seen'), 5, 'gone')
    t.equal(await sessions.sweep(10), 1, 'the caps sweep removed the record as well')
    t.equal(await sessions.get('gone'), null)
    t.equal(await client.hlen(caps('ids')), 0)
  })

  t.test('sweeps many stale records and entries in batches', async (t) => {
    const { sessions, caps } = setup(t)
    const ids = Array.from({ length: 2100 }, (_, i) => `c${i}`)
    await Promise.all(ids.map((id, i) => sessions.add(record(id, { userId: `u${i % 7}` }))))
    await Promise.all(ids.map((id) => client.hset(caps('ids'), `${id}-orphan`, '0:192.0.2.9')))
    await Promise.all(ids.map((id) => client.zadd(caps('seen'), 1, `${id}-orphan`)))
    t.equal(await sessions.sweep(2), 2100)
    t.equal(await client.hlen(caps('ids')), 0)
    t.same(await sessions.stats(), { connections: 0, users: 0, channels: {} })
  })
}
