import t from 'tap'
import { MemoryHistoryStore } from '../src/memory/index.js'

function fakeClock(start = 1_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => void (now += ms) }
}

const limits = { maxLength: 100, ttlMs: 1_000 }

t.test('options are validated with errors that name them', async (t) => {
  for (const maxStreams of [0, -1, 1.5, '10']) {
    t.throws(() => new MemoryHistoryStore({ maxStreams: maxStreams as number }), {
      name: 'TypeError',
      message: /MemoryHistoryStore option maxStreams must be a positive integer/,
    })
  }
  t.throws(() => new MemoryHistoryStore({ clock: {} as never }), /option clock/)
  t.doesNotThrow(() => new MemoryHistoryStore())
})

t.test('bad arguments are refused and lose nothing', async (t) => {
  const store = new MemoryHistoryStore()
  const seq = await store.append('all', '{"n":1}', limits)
  await t.rejects(store.append('', '{}', limits), { name: 'TypeError', message: /stream/ })
  await t.rejects(store.append('all', 3 as never, limits), { name: 'TypeError', message: /frame/ })
  await t.rejects(store.append('all', '{}', { maxLength: 0, ttlMs: 1 }), /maxLength/)
  await t.rejects(store.append('all', '{}', { maxLength: 1, ttlMs: 1.5 }), /ttlMs/)
  await t.rejects(store.append('all', '{}', undefined as never), /maxLength/)
  await t.rejects(store.read('', 0), /stream/)
  for (const after of [-1, 1.5, Number.NaN, '0']) {
    await t.rejects(store.read('all', after as number), /afterSeq/)
  }
  await t.rejects(store.head(5 as never), /stream/)
  t.same(await store.read('all', 0), { entries: [{ seq, frame: '{"n":1}' }], complete: true })
})

t.test('one counter for the whole store: seqs increase across streams', async (t) => {
  const store = new MemoryHistoryStore()
  const a1 = await store.append('channel:a', '{"n":1}', limits)
  const b1 = await store.append('channel:b', '{"n":1}', limits)
  const a2 = await store.append('channel:a', '{"n":2}', limits)
  t.same([a1, b1, a2], [1, 2, 3])
  t.equal(await store.head('channel:a'), 3)
  t.equal(await store.head('channel:b'), 2)
  t.equal(await store.head('channel:none'), 0, 'a stream that never existed')
  t.same(
    (await store.read('channel:a', 0)).entries.map((entry) => entry.seq),
    [1, 3],
  )
})

t.test('entries expire at expiresAt on the injected clock; the stream record stays', async (t) => {
  const clock = fakeClock()
  const store = new MemoryHistoryStore({ clock })
  const first = await store.append('all', '{"n":1}', limits)
  clock.advance(500)
  const second = await store.append('all', '{"n":2}', limits, ['conn-1'])
  clock.advance(499)
  t.same(await store.read('all', 0), {
    entries: [
      { seq: first, frame: '{"n":1}' },
      { seq: second, frame: '{"n":2}', except: ['conn-1'] },
    ],
    complete: true,
  })
  clock.advance(1)
  t.same(await store.read('all', 0), {
    entries: [{ seq: second, frame: '{"n":2}', except: ['conn-1'] }],
    complete: false,
  })
  t.same((await store.read('all', first)).complete, true, 'nothing after the first was lost')
  clock.advance(500)
  t.same(await store.read('all', first), { entries: [], complete: false })
  t.equal(await store.head('all'), second, 'the head outlives the entries')
  t.equal(await store.append('all', '{"n":3}', limits), second + 1)
})

t.test('maxLength trims the oldest entries', async (t) => {
  const store = new MemoryHistoryStore()
  const seqs: number[] = []
  for (let n = 1; n <= 5; n++)
    seqs.push(await store.append('all', `{"n":${n}}`, { maxLength: 2, ttlMs: 60_000 }))
  const read = await store.read('all', 0)
  t.same(
    read.entries.map((entry) => entry.frame),
    ['{"n":4}', '{"n":5}'],
  )
  t.equal(read.complete, false)
  t.equal((await store.read('all', seqs[2] as number)).complete, true)
  t.equal((await store.read('all', seqs[1] as number)).complete, false)
})

t.test('maxStreams forgets the least recently appended stream, conservatively', async (t) => {
  const store = new MemoryHistoryStore({ maxStreams: 2 })
  const a = await store.append('a', '{"n":1}', limits)
  await store.append('b', '{"n":1}', limits)
  await store.append('a', '{"n":2}', limits) // a is now the most recent
  const c = await store.append('c', '{"n":1}', limits) // b goes
  t.same(await store.read('b', 0), { entries: [], complete: false }, 'b may have lost entries')
  t.equal(await store.head('b'), 2, 'its head is at least its last seq')
  t.same(
    (await store.read('a', a)).entries.map((entry) => entry.frame),
    ['{"n":2}'],
  )
  t.equal((await store.read('c', 0)).complete, true)
  const again = await store.append('b', '{"n":2}', limits)
  t.ok(again > c)
  t.same(await store.read('b', 2), { entries: [{ seq: again, frame: '{"n":2}' }], complete: true })
  t.equal((await store.read('b', 0)).complete, false, 'what b had before it was forgotten is lost')
})

t.test('sweep removes expired entries before `before`, never live ones', async (t) => {
  const clock = fakeClock()
  const store = new MemoryHistoryStore({ clock })
  await store.append('a', '{"n":1}', { maxLength: 10, ttlMs: 100 })
  await store.append('a', '{"n":2}', { maxLength: 10, ttlMs: 100 })
  await store.append('b', '{"n":1}', { maxLength: 10, ttlMs: 10_000 })
  clock.advance(200)
  t.equal(await store.sweep(clock.now() - 150), 0, 'expired, but not before `before`')
  t.equal(await store.sweep(clock.now() + 60_000), 2, 'a future `before` spares live entries')
  t.equal(await store.sweep(clock.now()), 0)
  t.equal((await store.read('b', 0)).entries.length, 1)
})

t.test('close forgets everything; seqs keep increasing', async (t) => {
  const store = new MemoryHistoryStore()
  const seq = await store.append('a', '{"n":1}', limits)
  await store.close()
  t.same(await store.read('a', 0), { entries: [], complete: false })
  t.equal(await store.head('a'), seq)
  t.ok((await store.append('a', '{"n":2}', limits)) > seq)
})
