import t from 'tap'
import { MemorySessionStore } from '../src/memory/index.js'
import type { SessionRecord } from '../src/stores.js'

function session(id: string, fields: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    userId: 'u1',
    instanceId: 'i1',
    ip: '10.0.0.1',
    channels: [],
    connectedAt: 1000,
    lastSeenAt: 1000,
    ...fields,
  }
}

t.test('maxSessions is validated with an error that names it', async (t) => {
  for (const maxSessions of [0, -1, 1.5, '3', null]) {
    t.throws(() => new MemorySessionStore({ maxSessions: maxSessions as number }), {
      name: 'TypeError',
      message: /MemorySessionStore option maxSessions must be a positive integer/,
    })
  }
})

t.test('records are frozen copies: callers cannot corrupt the store', async (t) => {
  const store = new MemorySessionStore()
  const channels = ['a', 'a', 'b']
  const input = { ...session('s1'), channels, extra: 'not kept' }
  await store.add(input)
  channels.push('c')
  input.userId = 'someone else'
  const record = await store.get('s1')
  t.same(record, session('s1', { channels: ['a', 'b'] }), 'duplicate channels collapse')
  t.notOk(record && 'extra' in record)
  t.ok(Object.isFrozen(record) && Object.isFrozen(record?.channels))
  t.throws(() => (record?.channels as string[]).push('c'))
  await store.join('s1', 'c')
  await store.touch(['s1'], 2000)
  const [listed] = await store.listByUser('u1')
  t.ok(Object.isFrozen(listed) && Object.isFrozen(listed?.channels))
  t.same(await store.listByChannel('c'), [listed])
  t.equal(await store.count({ userId: 'someone else' }), 0)
})

t.test('maxSessions bounds the store whatever the caps say', async (t) => {
  const store = new MemorySessionStore({ maxSessions: 2 })
  t.same(await store.add(session('s1')), { ok: true })
  t.same(await store.add(session('s2'), { total: 10 }), { ok: true })
  t.same(await store.add(session('s3'), { total: 10 }), { ok: false, limit: 'total' })
  t.same(await store.add(session('s2', { lastSeenAt: 5 })), { ok: true }, 'replacing fits')
  t.equal((await store.get('s2'))?.lastSeenAt, 5)
  t.equal(await store.count(), 2)
})

t.test('the default maxSessions leaves room and caps come from the caller', async (t) => {
  const store = new MemorySessionStore()
  t.same(await store.add(session('s1'), { total: 1 }), { ok: true })
  t.same(await store.add(session('s2'), { total: 1 }), { ok: false, limit: 'total' })
})

t.test('with several caps exceeded, user is reported before ip before total', async (t) => {
  const store = new MemorySessionStore()
  await store.add(session('s1'))
  const all = { perUser: 1, perIp: 1, total: 1 }
  t.same(await store.add(session('s2'), all), { ok: false, limit: 'user' })
  t.same(await store.add(session('s2', { userId: 'u2' }), all), { ok: false, limit: 'ip' })
  const other = session('s2', { userId: 'u2', ip: '10.0.0.2' })
  t.same(await store.add(other, all), { ok: false, limit: 'total' })
  t.equal(await store.count(), 1, 'refused adds insert nothing')
})

t.test('a replacement is re-indexed and never counted twice', async (t) => {
  const store = new MemorySessionStore()
  const caps = { perUser: 1, perIp: 1, total: 1 }
  t.same(await store.add(session('s1', { channels: ['a'] }), caps), { ok: true })
  t.same(await store.add(session('s1', { channels: ['a'] }), caps), { ok: true }, 'same everything')
  const moved = session('s1', { userId: 'u2', ip: '10.0.0.2', channels: ['b'] })
  t.same(await store.add(moved, caps), { ok: true }, 'moving user and ip')
  t.same(await store.listByUser('u1'), [])
  t.same(await store.listByChannel('a'), [])
  t.same(await store.listByUser('u2'), [moved])
  t.equal(await store.count({ ip: '10.0.0.2' }), 1)
  t.same(await store.stats(), { connections: 1, users: 1, channels: { b: 1 } })
})

t.test('a refused replacement leaves the existing record as it was', async (t) => {
  const store = new MemorySessionStore()
  await store.add(session('s1'))
  await store.add(session('s2', { userId: 'u2', ip: '10.0.0.2' }))
  const onto = session('s2', { userId: 'u1' })
  t.same(await store.add(onto, { perUser: 1 }), { ok: false, limit: 'user' })
  t.same(await store.add(onto, { perIp: 1 }), { ok: false, limit: 'ip' })
  t.equal((await store.get('s2'))?.userId, 'u2')
  t.equal(await store.count({ userId: 'u1' }), 1)
})

t.test('count combines filters with AND, through the smallest index', async (t) => {
  const store = new MemorySessionStore()
  await store.add(session('s1', { channels: ['a', 'b'] }))
  await store.add(session('s2', { channels: ['a'] }))
  await store.add(session('s3', { userId: 'u2', channels: ['a'] }))
  await store.add(session('s4', { userId: 'u2', ip: '10.0.0.2' }))
  t.equal(await store.count(), 4)
  t.equal(await store.count({}), 4)
  t.equal(await store.count({ userId: 'u1' }), 2)
  t.equal(await store.count({ ip: '10.0.0.1' }), 3)
  t.equal(await store.count({ channel: 'a' }), 3)
  t.equal(await store.count({ userId: 'u2', channel: 'a' }), 1)
  t.equal(await store.count({ userId: 'u1', ip: '10.0.0.1', channel: 'b' }), 1)
  t.equal(await store.count({ userId: 'u2', ip: '10.0.0.2', channel: 'a' }), 0)
  t.equal(await store.count({ userId: 'nobody', channel: 'a' }), 0)
  t.equal(await store.count({ ip: '10.9.9.9' }), 0)
  t.equal(await store.count({ channel: 'none' }), 0)
})

t.test('stats count channels by their own names, __proto__ included', async (t) => {
  const store = new MemorySessionStore()
  await store.add(session('s1', { channels: ['__proto__', 'constructor'] }))
  const stats = await store.stats()
  t.equal(stats.channels['__proto__'], 1)
  t.equal(stats.channels['constructor'], 1)
  t.same(Object.keys(stats.channels).sort(), ['__proto__', 'constructor'])
})

t.test('join and leave are no-ops when there is nothing to change', async (t) => {
  const store = new MemorySessionStore()
  await store.add(session('s1', { channels: ['a'] }))
  const before = await store.get('s1')
  await store.join('s1', 'a')
  await store.leave('s1', 'b')
  t.equal(await store.get('s1'), before, 'the record was not rewritten')
  await store.join('ghost', 'a')
  await store.leave('ghost', 'a')
  t.equal(await store.get('ghost'), null)
  t.same(await store.stats(), { connections: 1, users: 1, channels: { a: 1 } })
  await store.leave('s1', 'a')
  t.same((await store.get('s1'))?.channels, [])
  t.same(await store.stats(), { connections: 1, users: 1, channels: {} })
})

t.test('touch ignores unknown ids; sweep cleans every index', async (t) => {
  const store = new MemorySessionStore()
  await store.add(session('s1', { channels: ['a'] }))
  await store.add(session('s2', { userId: 'u2', channels: ['a'] }))
  await store.touch(['s2', 'ghost'], 3000)
  t.equal(await store.get('ghost'), null)
  t.equal(await store.countSweepable(2000), 1, 'a dry run counts s1')
  t.equal(await store.countSweepable(2000), 1, 'and removes nothing')
  t.equal(await store.countSweepable(3000), 1, 'staleBefore is exclusive')
  t.equal(await store.sweep(2000), 1)
  t.same(await store.stats(), { connections: 1, users: 1, channels: { a: 1 } })
  t.same(await store.listByUser('u1'), [])
  t.equal(await store.remove('s1'), false)
  t.equal(await store.remove('s2'), true)
  t.same(await store.stats(), { connections: 0, users: 0, channels: {} })
})

t.test('close forgets every record', async (t) => {
  const store = new MemorySessionStore()
  await store.add(session('s1', { channels: ['a'] }))
  await store.close()
  t.same(await store.stats(), { connections: 0, users: 0, channels: {} })
  t.equal(await store.count({ userId: 'u1' }), 0)
  t.same(await store.add(session('s1'), { perUser: 1 }), { ok: true })
})

t.test(
  'an index key with one session, then two, then one again: counts, lists, caps',
  async (t) => {
    const store = new MemorySessionStore()
    const caps = { perUser: 2 }
    t.same(await store.add(session('s1'), caps), { ok: true })
    t.equal(await store.count({ userId: 'u1' }), 1)
    t.same(
      (await store.listByUser('u1')).map((record) => record.id),
      ['s1'],
    )
    t.same(await store.add(session('s2'), caps), { ok: true })
    t.same(await store.add(session('s3'), caps), { ok: false, limit: 'user' })
    t.same(
      (await store.listByUser('u1')).map((record) => record.id),
      ['s1', 's2'],
    )
    await store.remove('s1')
    t.equal(await store.count({ userId: 'u1' }), 1, 'back to one')
    t.equal(await store.count({ ip: '10.0.0.1' }), 1)
    t.same(
      (await store.listByUser('u1')).map((record) => record.id),
      ['s2'],
    )
    t.same(await store.add(session('s3'), caps), { ok: true }, 'room for a second again')
    await store.remove('s2')
    await store.remove('s3')
    t.equal(await store.count({ userId: 'u1' }), 0)
    t.same(await store.listByUser('u1'), [])
    t.same(await store.stats(), { connections: 0, users: 0, channels: {} })
  },
)
