import t from 'tap'
import { MemoryRateLimitStore } from '../src/memory/index.js'

function fakeClock(start = 1_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => void (now += ms) }
}

t.test('options are validated with errors that name them', async (t) => {
  for (const max of [0, -5, 2.5, Number.NaN, '1', null]) {
    t.throws(() => new MemoryRateLimitStore({ max: max as number }), {
      name: 'TypeError',
      message: /MemoryRateLimitStore option max must be a positive integer/,
    })
  }
  t.throws(() => new MemoryRateLimitStore({ clock: { now: 'soon' } as never }), {
    name: 'TypeError',
    message: /MemoryRateLimitStore option clock/,
  })
})

t.test('bad hit arguments are refused and count nothing', async (t) => {
  const clock = fakeClock()
  const store = new MemoryRateLimitStore({ clock })
  for (const limit of [0, -1, 1.5, Number.NaN]) {
    await t.rejects(store.hit('k', limit, 1000), { name: 'TypeError', message: /hit\(limit\)/ })
  }
  for (const windowMs of [0, 0.5, Infinity]) {
    await t.rejects(store.hit('k', 5, windowMs), { name: 'TypeError', message: /hit\(windowMs\)/ })
  }
  t.same(await store.hit('k', 5, 1000), { allowed: true, remaining: 4, retryAfterMs: 0 })
})

t.test('the default clock is Date.now', async (t) => {
  const store = new MemoryRateLimitStore()
  t.same(await store.hit('k', 1, 60_000), { allowed: true, remaining: 0, retryAfterMs: 0 })
  const refused = await store.hit('k', 1, 60_000)
  t.equal(refused.allowed, false)
  t.ok(refused.retryAfterMs > 59_000 && refused.retryAfterMs <= 60_000)
})

t.test('a fixed window on the injected clock, opened by the first hit', async (t) => {
  const clock = fakeClock()
  const store = new MemoryRateLimitStore({ clock })
  t.same(await store.hit('k', 2, 1000), { allowed: true, remaining: 1, retryAfterMs: 0 })
  clock.advance(100)
  t.same(await store.hit('k', 2, 1000), { allowed: true, remaining: 0, retryAfterMs: 0 })
  t.same(await store.hit('k', 2, 1000), { allowed: false, remaining: 0, retryAfterMs: 900 })
  clock.advance(500)
  t.same(await store.hit('k', 2, 1000), { allowed: false, remaining: 0, retryAfterMs: 400 })
  clock.advance(399)
  t.same(await store.hit('k', 2, 1000), { allowed: false, remaining: 0, retryAfterMs: 1 })
  clock.advance(1)
  t.same(
    await store.hit('k', 2, 1000),
    { allowed: true, remaining: 1, retryAfterMs: 0 },
    'new window',
  )
})

t.test('bounded: a new key evicts the least recently hit open window', async (t) => {
  const clock = fakeClock()
  const store = new MemoryRateLimitStore({ clock, max: 2 })
  await store.hit('a', 5, 10_000)
  await store.hit('b', 5, 10_000)
  await store.hit('a', 5, 10_000) // b is now the least recently hit
  await store.hit('c', 5, 10_000)
  t.equal((await store.hit('a', 5, 10_000)).remaining, 2, 'a kept its count')
  t.equal((await store.hit('b', 5, 10_000)).remaining, 4, 'b started over')
})

t.test('bounded: ended windows are dropped before an open one is evicted', async (t) => {
  const clock = fakeClock()
  const store = new MemoryRateLimitStore({ clock, max: 2 })
  await store.hit('long', 5, 10_000)
  await store.hit('short', 5, 100) // long is the least recently hit
  clock.advance(150)
  await store.hit('new', 5, 10_000)
  t.equal((await store.hit('long', 5, 10_000)).remaining, 3, 'long kept its count')
  t.equal(await store.sweep(clock.now() + 1), 0, 'short is already gone')
})

t.test('sweep removes windows that ended before `before`, never an open one', async (t) => {
  const clock = fakeClock()
  const store = new MemoryRateLimitStore({ clock })
  const start = clock.now()
  await store.hit('a', 5, 100)
  await store.hit('b', 5, 200)
  await store.hit('c', 5, 10_000)
  t.equal(await store.sweep(start + 20_000), 0, 'every window is open')
  clock.advance(200)
  t.equal(await store.countSweepable(start + 20_000), 2, 'a dry run counts a and b')
  t.equal(await store.countSweepable(start + 200), 1, 'with the same bounds as sweep')
  t.equal(await store.sweep(start + 200), 1, 'before is exclusive')
  t.equal(await store.sweep(start + 20_000), 1)
  t.equal((await store.hit('c', 5, 10_000)).remaining, 3, 'c kept its count')
})

t.test('close forgets every window', async (t) => {
  const store = new MemoryRateLimitStore()
  await store.hit('k', 1, 60_000)
  await store.close()
  t.equal((await store.hit('k', 1, 60_000)).allowed, true)
})
