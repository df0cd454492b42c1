/**
 * The `removeMany` conformance group: the batched removal a warden sends as connections close
 * removes exactly what `remove` would, id by id, in one call.
 *
 * @module
 */
import assert from 'node:assert/strict'
import type { SessionStore } from '@ws-warden/core/stores'
import { REMOVE_MANY_LIMIT } from '@ws-warden/core/stores'
import { group, type ConformanceOptions } from './harness.js'
import { addAll, ids, session } from './sessions.js'

type Removing = SessionStore & Required<Pick<SessionStore, 'removeMany'>>

function removing(store: SessionStore): Removing {
  if (store.removeMany === undefined) throw new Error('this session store has no removeMany')
  return store as Removing
}

/** Registers the `removeMany` group. `storeConformance` does when the session store has one. */
export function removeManyConformance(options: ConformanceOptions): void {
  const base = group(options, 'sessions')
  const test = (name: string, body: (sessions: Removing) => Promise<void>) =>
    base(`removeMany: ${name}`, (store) => body(removing(store)))

  test('an empty call removes nothing', async (sessions) => {
    await addAll(sessions, [session('s1', { userId: 'u1' })])
    assert.equal(await sessions.removeMany([]), 0)
    assert.equal(await sessions.count(), 1)
  })

  test('removes the listed records from every lookup; unknown and repeated ids are ignored', async (sessions) => {
    await addAll(sessions, [
      session('s1', { userId: 'u1', channels: ['room'] }),
      session('s2', { userId: 'u1', channels: ['room'] }),
      session('s3', { userId: 'u2', channels: ['room'] }),
      session('s4', { userId: 'u3' }),
    ])
    assert.equal(await sessions.removeMany(['s1', 'unknown', 's3', 's1']), 2)
    assert.equal(await sessions.get('s1'), null)
    assert.equal(await sessions.get('s3'), null)
    assert.equal((await sessions.get('s2'))?.userId, 'u1')
    assert.deepEqual(await ids(sessions.listByUser('u1')), ['s2'])
    assert.deepEqual(await sessions.listByUser('u2'), [])
    assert.deepEqual(await ids(sessions.listByChannel('room')), ['s2'])
    assert.equal(await sessions.count(), 2)
    assert.equal(await sessions.removeMany(['s1', 's3']), 0, 'a second call finds nothing')
    const stats = await sessions.stats()
    assert.equal(stats.connections, 2)
    assert.equal(stats.users, 2)
  })

  test('what it removed no longer counts against any cap', async (sessions) => {
    await addAll(sessions, [session('a1', { userId: 'u1' }), session('a2', { userId: 'u1' })])
    const refused = (limit: string) => ({ ok: false, limit })
    assert.deepEqual(
      await sessions.add(session('a3', { userId: 'u1' }), { perUser: 2 }),
      refused('user'),
    )
    assert.deepEqual(
      await sessions.add(session('a3', { userId: 'u9' }), { perIp: 2 }),
      refused('ip'),
    )
    assert.deepEqual(
      await sessions.add(session('a3', { userId: 'u9' }), { total: 2 }),
      refused('total'),
    )
    assert.equal(await sessions.removeMany(['a1', 'a2']), 2)
    const caps = { perUser: 2, perIp: 2, total: 2 }
    assert.deepEqual(await sessions.add(session('a3', { userId: 'u1' }), caps), { ok: true })
    assert.deepEqual(await sessions.add(session('a4', { userId: 'u1' }), caps), { ok: true })
    assert.deepEqual(
      await sessions.add(session('a5', { userId: 'u1' }), { perUser: 2 }),
      refused('user'),
    )
  })

  test(`${REMOVE_MANY_LIMIT} ids in one call (a warden's largest) of many users`, async (sessions) => {
    const records = Array.from({ length: REMOVE_MANY_LIMIT + 4 }, (_, i) =>
      session(`m${i}`, { userId: `user${i % 37}`, channels: i % 3 === 0 ? ['many'] : [] }),
    )
    await addAll(sessions, records)
    const removed = records.slice(0, REMOVE_MANY_LIMIT).map((record) => record.id)
    assert.equal(await sessions.removeMany(removed), REMOVE_MANY_LIMIT)
    assert.equal(await sessions.count(), 4)
    assert.deepEqual(
      await ids(sessions.listByChannel('many')),
      records
        .slice(REMOVE_MANY_LIMIT)
        .filter((record) => record.channels.length > 0)
        .map((record) => record.id)
        .sort(),
    )
  })
}
