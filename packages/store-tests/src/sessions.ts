/**
 * The session store conformance group: add under the caps, lookups by id, user and channel,
 * joins and leaves, touches, stats and the sweep of stale records.
 *
 * @module
 */
import assert from 'node:assert/strict'
import type { SessionRecord, SessionStore } from '@ws-warden/core/stores'
import { group, type ConformanceOptions } from './harness.js'

/** Epoch ms every record is stamped from (real dates, for stores with date columns). */
const T = Math.floor(Date.now() / 1000) * 1000

export function session(id: string, fields: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    userId: 'user-1',
    instanceId: 'instance-1',
    ip: '203.0.113.7',
    channels: [],
    connectedAt: T,
    lastSeenAt: T,
    ...fields,
  }
}

/** Records compare equal whatever order their channels come back in. */
function normalize(record: SessionRecord | null): SessionRecord | null {
  return record && { ...record, channels: [...record.channels].sort() }
}

export async function ids(records: Promise<SessionRecord[]>): Promise<string[]> {
  return (await records).map((record) => record.id).sort()
}

export async function addAll(sessions: SessionStore, records: SessionRecord[]): Promise<void> {
  for (const record of records) assert.deepEqual(await sessions.add(record), { ok: true })
}

/** The session registry: records, indexes, caps, touch and sweep. */
export function sessionConformance(options: ConformanceOptions): void {
  const test = group(options, 'sessions')

  test('add then get returns the record; an unknown id is null', async (sessions) => {
    const record = session('conn-1', {
      ip: '2001:db8:85a3::8a2e:370:7334',
      channels: ['room:b', 'room:a', 'salon-é'],
      connectedAt: T + 1,
      lastSeenAt: T + 2,
    })
    assert.deepEqual(await sessions.add(record), { ok: true })
    assert.deepEqual(normalize(await sessions.get('conn-1')), normalize(record))
    assert.equal(await sessions.get('conn-2'), null)
  })

  test('remove is true once, then false; the record is gone from every lookup', async (sessions) => {
    await addAll(sessions, [session('conn-1', { channels: ['room'] }), session('conn-2')])
    assert.equal(await sessions.remove('conn-1'), true)
    assert.equal(await sessions.remove('conn-1'), false)
    assert.equal(await sessions.remove('never-added'), false)
    assert.equal(await sessions.get('conn-1'), null)
    assert.deepEqual(await ids(sessions.listByUser('user-1')), ['conn-2'])
    assert.deepEqual(await sessions.listByChannel('room'), [])
    assert.equal(await sessions.count(), 1)
  })

  test('listByUser and listByChannel', async (sessions) => {
    await addAll(sessions, [
      session('laptop', { channels: ['a', 'b'] }),
      session('phone', { channels: ['a'] }),
      session('other', { userId: 'user-2', channels: ['b'] }),
    ])
    assert.deepEqual(await ids(sessions.listByUser('user-1')), ['laptop', 'phone'])
    assert.deepEqual(await ids(sessions.listByUser('user-2')), ['other'])
    assert.deepEqual(await sessions.listByUser('nobody'), [])
    assert.deepEqual(await ids(sessions.listByChannel('a')), ['laptop', 'phone'])
    assert.deepEqual(await ids(sessions.listByChannel('b')), ['laptop', 'other'])
    assert.deepEqual(await sessions.listByChannel('none'), [])
    const other = (await sessions.listByUser('user-2')).map(normalize)
    assert.deepEqual(other, [session('other', { userId: 'user-2', channels: ['b'] })])
  })

  test('adding an existing id replaces the record everywhere', async (sessions) => {
    await addAll(sessions, [session('conn-1', { channels: ['a'] })])
    const moved = session('conn-1', {
      userId: 'user-2',
      ip: '198.51.100.1',
      channels: ['b'],
      lastSeenAt: T + 5,
    })
    assert.deepEqual(await sessions.add(moved), { ok: true })
    assert.deepEqual(normalize(await sessions.get('conn-1')), moved)
    assert.deepEqual(await sessions.listByUser('user-1'), [])
    assert.deepEqual(await ids(sessions.listByUser('user-2')), ['conn-1'])
    assert.deepEqual(await sessions.listByChannel('a'), [])
    assert.deepEqual(await ids(sessions.listByChannel('b')), ['conn-1'])
    assert.equal(await sessions.count({ ip: '203.0.113.7' }), 0)
    assert.deepEqual(await sessions.stats(), { connections: 1, users: 1, channels: { b: 1 } })
  })

  test('join and leave update the record and the channel lookups', async (sessions) => {
    await addAll(sessions, [session('conn-1'), session('conn-2', { channels: ['a'] })])
    await sessions.join('conn-1', 'a')
    await sessions.join('conn-1', 'a')
    await sessions.join('conn-1', 'b')
    const joined = await sessions.get('conn-1')
    assert.ok(joined)
    assert.deepEqual([...joined.channels].sort(), ['a', 'b'], 'joined once each')
    assert.deepEqual(await ids(sessions.listByChannel('a')), ['conn-1', 'conn-2'])
    assert.equal(await sessions.count({ channel: 'b' }), 1)
    await sessions.leave('conn-1', 'a')
    await sessions.leave('conn-1', 'a')
    await sessions.leave('conn-1', 'never-joined')
    assert.deepEqual((await sessions.get('conn-1'))?.channels, ['b'])
    assert.deepEqual(await ids(sessions.listByChannel('a')), ['conn-2'])
    await sessions.leave('conn-1', 'b')
    assert.deepEqual(await sessions.listByChannel('b'), [])
    assert.deepEqual(await sessions.stats(), { connections: 2, users: 1, channels: { a: 1 } })
  })

  test('join and leave of an unknown id do nothing', async (sessions) => {
    await sessions.join('ghost', 'a')
    await sessions.leave('ghost', 'a')
    assert.equal(await sessions.get('ghost'), null)
    assert.deepEqual(await sessions.listByChannel('a'), [])
    assert.deepEqual(await sessions.stats(), { connections: 0, users: 0, channels: {} })
  })

  test('count, with each filter and with filters combined (AND)', async (sessions) => {
    await addAll(sessions, [
      session('s1', { channels: ['a', 'b'] }),
      session('s2', { channels: ['a'] }),
      session('s3', { userId: 'user-2', channels: ['a'] }),
      session('s4', { userId: 'user-2', ip: '198.51.100.1' }),
    ])
    assert.equal(await sessions.count(), 4)
    assert.equal(await sessions.count({}), 4)
    assert.equal(await sessions.count({ userId: 'user-1' }), 2)
    assert.equal(await sessions.count({ ip: '203.0.113.7' }), 3)
    assert.equal(await sessions.count({ channel: 'a' }), 3)
    assert.equal(await sessions.count({ userId: 'user-2', channel: 'a' }), 1)
    assert.equal(await sessions.count({ userId: 'user-2', ip: '198.51.100.1' }), 1)
    assert.equal(await sessions.count({ userId: 'user-1', ip: '203.0.113.7', channel: 'b' }), 1)
    assert.equal(await sessions.count({ userId: 'user-2', ip: '198.51.100.1', channel: 'a' }), 0)
    assert.equal(await sessions.count({ userId: 'nobody' }), 0)
  })

  test('stats: connections, distinct users, members per channel', async (sessions) => {
    assert.deepEqual(await sessions.stats(), { connections: 0, users: 0, channels: {} })
    await addAll(sessions, [
      session('s1', { channels: ['a', 'b'] }),
      session('s2', { channels: ['a'] }),
      session('s3', { userId: 'user-2' }),
    ])
    assert.deepEqual(await sessions.stats(), { connections: 3, users: 2, channels: { a: 2, b: 1 } })
    await sessions.remove('s1')
    assert.deepEqual(await sessions.stats(), { connections: 2, users: 2, channels: { a: 1 } })
  })

  test('caps per user, per IP and in total refuse the add and insert nothing', async (sessions) => {
    const caps = { perUser: 2, perIp: 3, total: 4 }
    await addAll(sessions, [session('u1-a'), session('u1-b')])
    assert.deepEqual(await sessions.add(session('u1-c'), caps), { ok: false, limit: 'user' })
    assert.equal(await sessions.get('u1-c'), null)
    assert.deepEqual(await sessions.add(session('u2-a', { userId: 'user-2' }), caps), { ok: true })
    const sameIp = session('u3-a', { userId: 'user-3' })
    assert.deepEqual(await sessions.add(sameIp, caps), { ok: false, limit: 'ip' })
    assert.equal(await sessions.get('u3-a'), null)
    const elsewhere = { userId: 'user-3', ip: '198.51.100.1' }
    assert.deepEqual(await sessions.add(session('u3-a', elsewhere), caps), { ok: true })
    const fifth = session('u4-a', { userId: 'user-4', ip: '198.51.100.2' })
    assert.deepEqual(await sessions.add(fifth, caps), { ok: false, limit: 'total' })
    assert.equal(await sessions.get('u4-a'), null)
    assert.equal(await sessions.count(), 4)
    assert.deepEqual(await sessions.add(fifth), { ok: true }, 'no caps, no limit')
  })

  test('replacing a record does not count it twice against the caps', async (sessions) => {
    const caps = { perUser: 1, perIp: 1, total: 1 }
    assert.deepEqual(await sessions.add(session('conn-1'), caps), { ok: true })
    assert.deepEqual(await sessions.add(session('conn-1', { lastSeenAt: T + 9 }), caps), {
      ok: true,
    })
    assert.equal((await sessions.get('conn-1'))?.lastSeenAt, T + 9)
    assert.equal(await sessions.count(), 1)
  })

  test('a refused replacement leaves the existing record as it was', async (sessions) => {
    await addAll(sessions, [
      session('mine'),
      session('theirs', { userId: 'user-2', ip: '198.51.100.1' }),
    ])
    const takeover = session('theirs', { ip: '198.51.100.1' })
    assert.deepEqual(await sessions.add(takeover, { perUser: 1 }), { ok: false, limit: 'user' })
    assert.equal((await sessions.get('theirs'))?.userId, 'user-2')
    assert.equal(await sessions.count({ userId: 'user-1' }), 1)
  })

  test('20 concurrent adds never pass a cap', async (sessions) => {
    const perUser = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sessions.add(session(`user-${i}`, { ip: `192.0.2.${i}` }), { perUser: 5 }),
      ),
    )
    assert.equal(perUser.filter((result) => result.ok).length, 5, 'perUser 5')
    for (const result of perUser.filter((r) => !r.ok))
      assert.deepEqual(result, { ok: false, limit: 'user' })
    assert.equal(await sessions.count({ userId: 'user-1' }), 5)

    const perIp = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sessions.add(session(`ip-${i}`, { userId: `ip-user-${i}`, ip: '198.51.100.9' }), {
          perIp: 3,
        }),
      ),
    )
    assert.equal(perIp.filter((result) => result.ok).length, 3, 'perIp 3')
    assert.equal(await sessions.count({ ip: '198.51.100.9' }), 3)

    const total = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sessions.add(
          session(`total-${i}`, { userId: `total-user-${i}`, ip: `192.0.2.${100 + i}` }),
          {
            total: 15,
          },
        ),
      ),
    )
    assert.equal(total.filter((result) => result.ok).length, 7, 'total 15, 8 already in')
    assert.equal(await sessions.count(), 15)
  })

  test('touch sets lastSeenAt of many records; sweep removes the stale ones', async (sessions) => {
    await addAll(sessions, [
      session('fresh-1', { channels: ['a'] }),
      session('fresh-2'),
      session('stale-1', { channels: ['a'] }),
      session('stale-2', { userId: 'user-2' }),
      session('stale-3', { userId: 'user-3' }),
    ])
    await sessions.touch(['fresh-1', 'fresh-2', 'unknown'], T + 60_000)
    await sessions.touch([], T + 90_000)
    assert.equal((await sessions.get('fresh-1'))?.lastSeenAt, T + 60_000)
    assert.equal((await sessions.get('stale-1'))?.lastSeenAt, T)
    assert.equal(await sessions.get('unknown'), null, 'touch creates nothing')
    assert.equal(await sessions.sweep(T), 0, 'staleBefore is exclusive')
    assert.equal(await sessions.sweep(T + 30_000), 3)
    assert.equal(await sessions.sweep(T + 30_000), 0, 'a second sweep finds nothing')
    assert.deepEqual(await ids(sessions.listByUser('user-1')), ['fresh-1', 'fresh-2'])
    assert.deepEqual(await ids(sessions.listByChannel('a')), ['fresh-1'])
    assert.equal(await sessions.get('stale-2'), null)
    assert.deepEqual(await sessions.stats(), { connections: 2, users: 1, channels: { a: 1 } })
  })

  test('the store keeps its own copy of every record', async (sessions) => {
    const channels = ['a']
    const input = { ...session('conn-1'), channels }
    await sessions.add(input)
    channels.push('sneaked-in')
    input.userId = 'user-9'
    const record = await sessions.get('conn-1')
    assert.ok(record)
    try {
      ;(record.channels as string[]).push('sneaked-out')
    } catch {
      // A frozen record refuses; either way the store must not change.
    }
    assert.deepEqual(
      normalize(await sessions.get('conn-1')),
      session('conn-1', { channels: ['a'] }),
    )
    assert.deepEqual(await sessions.listByChannel('sneaked-in'), [])
    assert.deepEqual(await sessions.listByChannel('sneaked-out'), [])
    assert.equal(await sessions.count({ userId: 'user-9' }), 0)
  })
}
