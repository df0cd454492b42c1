import t from 'tap'
import { MemoryResumeStore } from '../src/memory/index.js'
import type { ResumableSession } from '../src/stores.js'

function fakeClock(start = 1_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => void (now += ms) }
}

function session(id: string, fields: Partial<ResumableSession> = {}): ResumableSession {
  return { id, userId: 'u1', credentialHash: 'h', state: '{}', expiresAt: 1_060_000, ...fields }
}

t.test('options are validated with errors that name them', async (t) => {
  t.throws(() => new MemoryResumeStore({ maxSessions: 0 }), /MemoryResumeStore option maxSessions/)
  t.throws(() => new MemoryResumeStore({ clock: null as never }), /option clock/)
  t.doesNotThrow(() => new MemoryResumeStore())
})

t.test('bad sessions are refused, naming the field, and lose nothing', async (t) => {
  const store = new MemoryResumeStore({ clock: fakeClock() })
  await store.save(session('kept'))
  const bad: [Partial<ResumableSession> | null, RegExp][] = [
    [{ id: '' }, /save needs a non-empty string id/],
    [{ userId: 3 as never }, /userId/],
    [{ credentialHash: '' }, /credentialHash/],
    [{ state: null as never }, /string state/],
    [{ expiresAt: Number.NaN }, /finite expiresAt/],
  ]
  for (const [fields, message] of bad) {
    await t.rejects(store.save({ ...session('x'), ...fields }), { name: 'TypeError', message })
  }
  await t.rejects(store.save(null as never), /id/)
  await t.rejects(
    store.update({ ...session('kept'), id: '' }),
    /update needs a non-empty string id/,
  )
  t.same(await store.claim('kept', 'h'), session('kept'))
  t.equal(await store.claim('x', 'h'), null)
})

t.test('claim is single use, checks the hash, and stops at expiresAt', async (t) => {
  const clock = fakeClock()
  const store = new MemoryResumeStore({ clock })
  await store.save(session('s1'))
  await store.save(session('s2', { expiresAt: clock.now() + 100 }))
  t.equal(await store.claim('s1', 'wrong'), null)
  const claimed = await store.claim('s1', 'h')
  t.same(claimed, session('s1'))
  t.ok(Object.isFrozen(claimed))
  t.equal(await store.claim('s1', 'h'), null)
  clock.advance(99)
  await store.touch(['s2', 'nobody'], clock.now() + 1)
  clock.advance(1)
  t.equal(await store.claim('s2', 'h'), null, 'expired exactly at expiresAt')
})

t.test('update replaces only what is there', async (t) => {
  const store = new MemoryResumeStore({ clock: fakeClock() })
  t.equal(await store.update(session('s1')), false)
  await store.save(session('s1'))
  t.equal(await store.update(session('s1', { state: '{"new":1}' })), true)
  t.equal((await store.claim('s1', 'h'))?.state, '{"new":1}')
  t.equal(await store.update(session('s1')), false, 'claimed sessions stay claimed')
  t.equal(await store.remove('s1'), false)
})

t.test('sweep removes and reports sessions expired before `before`, never live ones', async (t) => {
  const clock = fakeClock()
  const store = new MemoryResumeStore({ clock })
  await store.save(session('old', { userId: 'u1', expiresAt: clock.now() + 10 }))
  await store.save(session('live', { userId: 'u2', expiresAt: clock.now() + 10_000 }))
  clock.advance(100)
  t.same(await store.sweep(clock.now() - 1_000), [])
  t.same(await store.sweep(clock.now() + 60_000), [
    { id: 'old', userId: 'u1', expiresAt: 1_000_010 },
  ])
  t.same(await store.sweep(clock.now() + 60_000), [])
  t.equal(await store.remove('live'), true)
})

t.test('a full store drops expired sessions first, then the oldest', async (t) => {
  const clock = fakeClock()
  const store = new MemoryResumeStore({ clock, maxSessions: 2 })
  await store.save(session('a', { expiresAt: clock.now() + 10 }))
  await store.save(session('b'))
  clock.advance(20)
  await store.save(session('c'))
  t.equal((await store.claim('b', 'h')) !== null, true, 'the expired one made room')
  await store.save(session('b'))
  await store.save(session('b')) // replacing does not need room
  await store.save(session('d'))
  t.equal(await store.claim('c', 'h'), null, 'the oldest was dropped')
  t.equal((await store.claim('b', 'h'))?.id, 'b')
  t.equal((await store.claim('d', 'h'))?.id, 'd')
  await store.save(session('e'))
  await store.close()
  t.equal(await store.claim('e', 'h'), null)
})
