import t, { type Test } from 'tap'
import type { SessionRecord } from '@ws-warden/core/stores'
import {
  RedisHistoryStore,
  RedisLockStore,
  RedisRateLimitStore,
  RedisResumeStore,
  RedisSessionStore,
  RedisTokenStore,
} from '../src/index.js'
import { deleteKeys, randomPrefix, sharedRedis } from './helpers/redis.js'

const redis = await sharedRedis(t)

if (redis !== undefined) {
  const client = redis
  const fresh = (t: Test): string => {
    const prefix = randomPrefix()
    t.teardown(async () => void (await deleteKeys(client, prefix)))
    return prefix
  }
  const keysOf = async (prefix: string): Promise<string[]> =>
    (await client.keys(`*${prefix}*`)).sort()
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

  t.test('tokens: one key per jti, expiring with the token, and an expiry index', async (t) => {
    const prefix = fresh(t)
    const tokens = new RedisTokenStore({ client, prefix })
    const expiresAt = Date.now() + 60_000
    t.equal(await tokens.consume('a:b', expiresAt), true)
    t.same(await keysOf(prefix), [`{${prefix}:tokens}:expiry`, `{${prefix}:tokens}:jti:a:b`])
    const expiry = await client.pexpiretime(`{${prefix}:tokens}:jti:a:b`)
    t.ok(Math.abs(expiry - expiresAt) <= 1, 'the key expires when the token does')
    t.ok((await client.pttl(`{${prefix}:tokens}:expiry`)) > 60_000, 'the index expires too')
    t.equal(await tokens.consume('gone', Date.now() - 1), true, 'an expired token is not stored')
    t.equal(await client.exists(`{${prefix}:tokens}:jti:gone`), 0)
  })

  t.test('rate limits: one expiring counter per key', async (t) => {
    const prefix = fresh(t)
    const limits = new RedisRateLimitStore({ client, prefix })
    await limits.hit('connect:ip:192.0.2.1', 5, 30_000)
    t.same(await keysOf(prefix), [
      `{${prefix}:rate}:expiry`,
      `{${prefix}:rate}:win:connect:ip:192.0.2.1`,
    ])
    const ttl = await client.pttl(`{${prefix}:rate}:win:connect:ip:192.0.2.1`)
    t.ok(ttl > 0 && ttl <= 30_000, 'the window expires by itself')
    await client.persist(`{${prefix}:rate}:win:connect:ip:192.0.2.1`)
    await limits.hit('connect:ip:192.0.2.1', 5, 30_000)
    t.ok(
      (await client.pttl(`{${prefix}:rate}:win:connect:ip:192.0.2.1`)) > 0,
      'a lost expiry is repaired',
    )
  })

  t.test('locks: one expiring key per name', async (t) => {
    const prefix = fresh(t)
    const release = await new RedisLockStore({ client, prefix }).acquire('sweep', 5000)
    t.same(await keysOf(prefix), [`${prefix}:lock:sweep`])
    const ttl = await client.pttl(`${prefix}:lock:sweep`)
    t.ok(ttl > 0 && ttl <= 5000)
    await release!()
    t.same(await keysOf(prefix), [])
  })

  t.test(
    'history: counter, list and index under one hash tag; the counter never expires',
    async (t) => {
      const prefix = fresh(t)
      const history = new RedisHistoryStore({ client, prefix })
      const tag = `{${prefix}:history}`
      await history.append('channel:{odd}:room', '{"n":1}', { maxLength: 10, ttlMs: 60_000 })
      t.same(await keysOf(prefix), [
        `${tag}:expiry`,
        `${tag}:log:channel:{odd}:room`,
        `${tag}:seq:channel:{odd}:room`,
      ])
      for (const key of [`${tag}:expiry`, `${tag}:log:channel:{odd}:room`]) {
        const ttl = await client.pttl(key)
        t.ok(ttl > 60_000 && ttl <= 60_000 + 300_000, `${key} expires 5 min after its entry`)
      }
      t.equal(await client.pttl(`${tag}:seq:channel:{odd}:room`), -1, 'the counter has no TTL')
      for (const key of await keysOf(prefix)) {
        const hashTag = key.slice(key.indexOf('{') + 1, key.indexOf('}'))
        t.equal(hashTag, `${prefix}:history`, `${key}: one slot, braces in the stream name or not`)
      }
    },
  )

  t.test('resumes: one expiring hash per session, an index and the users', async (t) => {
    const prefix = fresh(t)
    const resumes = new RedisResumeStore({ client, prefix })
    const tag = `{${prefix}:resumes}`
    const expiresAt = Date.now() + 60_000
    const session = { id: 's:1', userId: 'u', credentialHash: 'h', state: '{}', expiresAt }
    await resumes.save(session)
    t.same(await keysOf(prefix), [`${tag}:expiry`, `${tag}:session:s:1`, `${tag}:users`])
    const expiry = await client.pexpiretime(`${tag}:session:s:1`)
    t.equal(expiry, expiresAt, 'the session key expires with the session (PXAT)')
    for (const key of [`${tag}:expiry`, `${tag}:users`]) {
      const ttl = await client.pttl(key)
      t.ok(ttl > 60_000 && ttl <= 60_000 + 300_000, `${key} expires 5 min after the session`)
    }
    t.same(await client.hgetall(`${tag}:session:s:1`), {
      u: 'u',
      h: 'h',
      s: '{}',
      e: String(expiresAt),
    })
    await resumes.touch(['s:1'], expiresAt + 120_000)
    t.equal(await client.pexpiretime(`${tag}:session:s:1`), expiresAt + 120_000, 'touch moves it')
    t.ok((await client.pttl(`${tag}:users`)) > 180_000, 'and the index lifetime with it')
    await resumes.claim('s:1', 'h')
    t.same(await keysOf(prefix), [], 'a claim leaves nothing behind')
  })

  t.test('sessions: eight keys under one hash tag, all expiring, refreshed by touch', async (t) => {
    const prefix = fresh(t)
    const sessions = new RedisSessionStore({ client, prefix, ttlMs: 50_000 })
    const before = Date.now()
    await sessions.add(record('c1', { channels: ['room'] }))
    const names = ['by-channel', 'by-ip', 'by-user', 'channels', 'ips', 'records', 'seen', 'users']
    const keys = names.map((name) => `{${prefix}:sessions}:${name}`)
    t.same(await keysOf(prefix), keys)
    for (const key of keys) {
      const at = await client.pexpiretime(key)
      // At least ttlMs after the write, at most 1/64 more (see `lifetime` in the scripts).
      t.ok(at >= before + 50_000 && at <= Date.now() + 50_000 + 781, `${key} expires`)
    }
    for (const key of keys) await client.pexpire(key, 1000)
    await sessions.touch(['c1'], 2)
    for (const key of keys) t.ok((await client.pttl(key)) > 1000, `touch refreshed ${key}`)
    await sessions.remove('c1')
    t.same(await keysOf(prefix), [], 'nothing is left once the last record goes')
  })

  t.test('sessions: an add refreshes every key, a refused one leaves nothing', async (t) => {
    const prefix = fresh(t)
    const sessions = new RedisSessionStore({ client, prefix, ttlMs: 50_000 })
    t.same(await sessions.add(record('c1'), { perUser: 0 }), { ok: false, limit: 'user' })
    t.same(await sessions.add(record('c1'), { perIp: 0 }), { ok: false, limit: 'ip' })
    t.same(await sessions.add(record('c1'), { total: 0 }), { ok: false, limit: 'total' })
    t.same(await keysOf(prefix), [], 'a refused add on an empty registry writes nothing')
    await sessions.add(record('c1', { channels: ['room'] }))
    const names = ['by-channel', 'by-ip', 'by-user', 'channels', 'ips', 'records', 'seen', 'users']
    const keys = names.map((name) => `{${prefix}:sessions}:${name}`)
    t.same(await sessions.add(record('c2', { userId: 'other' }), { perUser: 1 }), { ok: true })
    t.same(await sessions.add(record('c3'), { perUser: 1 }), { ok: false, limit: 'user' })
    t.same(await sessions.stats(), { connections: 2, users: 2, channels: { room: 1 } })
    t.equal(await client.hexists(keys[5] as string, 'c3'), 0, 'the refused record is not kept')
    for (const key of keys) await client.pexpire(key, 1000)
    await sessions.add(record('c4', { userId: 'third' }))
    for (const key of keys) t.ok((await client.pttl(key)) > 1000, `add refreshed ${key}`)
  })

  t.test('sessions: an add that finds ttlMs left leaves every lifetime alone', async (t) => {
    const prefix = fresh(t)
    // 1/64 of it is 100 s: the adds below all come within that of the first.
    const ttlMs = 6_400_000
    const sessions = new RedisSessionStore({ client, prefix, ttlMs })
    const names = ['by-ip', 'by-user', 'ips', 'records', 'seen', 'users']
    const keys = names.map((name) => `{${prefix}:sessions}:${name}`)
    const deadlines = async () => Promise.all(keys.map((key) => client.pexpiretime(key)))
    await sessions.add(record('c1'))
    const first = await deadlines()
    const before = Date.now()
    await sessions.add(record('c2', { userId: 'u2', ip: '198.51.100.2' }))
    t.same(await deadlines(), first, 'no key was refreshed')
    for (const at of first) t.ok(at >= before + ttlMs, 'and each still outlives ttlMs from now')
    // Less than ttlMs left (as an older instance's refresh leaves them, to exactly ttlMs, a second
    // later): the next add refreshes.
    const older = client.multi()
    for (const key of keys) older.pexpire(key, ttlMs - 1000)
    await older.exec()
    const again = Date.now()
    await sessions.add(record('c3', { userId: 'u3' }))
    for (const at of await deadlines()) {
      t.ok(at >= again + ttlMs && at <= Date.now() + ttlMs + 100_000, 'every key was refreshed')
    }
  })

  t.test('sessions: a channel list emptied by leave reads back as []', async (t) => {
    const sessions = new RedisSessionStore({ client, prefix: fresh(t) })
    const connectedAt = 1_732_345_678_901
    await sessions.add(record('c1', { channels: ['a'], connectedAt }))
    await sessions.leave('c1', 'a')
    t.same((await sessions.get('c1'))?.channels, [])
    await sessions.join('c1', 'b')
    t.same((await sessions.get('c1'))?.channels, ['b'])
    t.equal((await sessions.get('c1'))?.connectedAt, connectedAt, 'times survive a rewrite in Lua')
    t.ok(Object.isFrozen(await sessions.get('c1')))
  })

  t.test('sessions: odd user ids, IPs and channels keep their indexes apart', async (t) => {
    const sessions = new RedisSessionStore({ client, prefix: fresh(t) })
    const odd = ['a', 'a:', '1:a', 'a\u0000b', '', '__proto__', 'é', '{tag}', 'x'.repeat(300)]
    for (const [i, value] of odd.entries()) {
      await sessions.add(record(`c${i}`, { userId: value, ip: value, channels: [value] }))
    }
    for (const [i, value] of odd.entries()) {
      t.same(
        (await sessions.listByUser(value)).map((r) => r.id),
        [`c${i}`],
        `user ${JSON.stringify(value)}`,
      )
      t.same(
        (await sessions.listByChannel(value)).map((r) => r.id),
        [`c${i}`],
      )
      t.equal(await sessions.count({ ip: value, channel: value }), 1)
    }
    const stats = await sessions.stats()
    t.equal(stats.users, odd.length)
    t.equal(Object.getPrototypeOf(stats.channels), Object.prototype, 'no prototype was replaced')
    t.equal(stats.channels['__proto__'], 1, '__proto__ is counted as a channel')
    t.same(Object.keys(stats.channels).sort(), [...odd].sort())
  })

  t.test('sessions: touch and sweep many records, in batches', async (t) => {
    const sessions = new RedisSessionStore({ client, prefix: fresh(t) })
    const ids = Array.from({ length: 2500 }, (_, i) => `c${i}`)
    await Promise.all(ids.map((id) => sessions.add(record(id, { channels: ['all'] }))))
    await sessions.touch(ids.slice(0, 1200), 100)
    t.equal(await sessions.sweep(100), 1300, 'the untouched ones')
    t.equal(await sessions.count(), 1200)
    t.equal(await sessions.sweep(101), 1200)
    t.same(await sessions.stats(), { connections: 0, users: 0, channels: {} })
  })

  t.test('sessions: records whose data expired are dropped from the index', async (t) => {
    const prefix = fresh(t)
    const sessions = new RedisSessionStore({ client, prefix })
    await sessions.add(record('c1'))
    await client.del(`{${prefix}:sessions}:records`)
    t.equal(await sessions.get('c1'), null)
    t.equal(await sessions.remove('c1'), false)
    await sessions.add(record('c2'))
    await client.hdel(`{${prefix}:sessions}:records`, 'c2')
    t.equal(await sessions.sweep(2), 0, 'an index entry without a record is not a removal')
    t.equal(await sessions.count(), 0)
  })
}
