import t from 'tap'
import { StoreUnavailableError, WardenError } from '../src/errors.js'
import { MemoryTokenStore, TokenStoreFullError } from '../src/memory/index.js'

function fakeClock(start = 1_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => void (now += ms) }
}

t.test('options are validated with errors that name them', async (t) => {
  for (const max of [0, -1, 1.5, Number.NaN, '10', null]) {
    t.throws(() => new MemoryTokenStore({ max: max as number }), {
      name: 'TypeError',
      message: /MemoryTokenStore option max must be a positive integer/,
    })
  }
  for (const clock of [{}, null, 5, { now: 1 }]) {
    t.throws(() => new MemoryTokenStore({ clock: clock as never }), {
      name: 'TypeError',
      message: /MemoryTokenStore option clock must be an object with a now\(\) method/,
    })
  }
  t.doesNotThrow(() => new MemoryTokenStore({ clock: Date, max: 1 }))
})

t.test('the default clock is Date.now', async (t) => {
  const store = new MemoryTokenStore()
  t.equal(await store.consume('a', Date.now() + 60_000), true)
  t.equal(await store.consume('a', Date.now() + 60_000), false)
  t.equal(await store.consume('b', Date.now() - 1), true, 'an expired token is not stored')
  t.equal(await store.consume('b', Date.now() - 1), true)
})

t.test('bad arguments are refused and lose nothing', async (t) => {
  const clock = fakeClock()
  const store = new MemoryTokenStore({ clock })
  t.equal(await store.consume('kept', clock.now() + 1000), true)
  await t.rejects(store.consume('', clock.now() + 1000), { name: 'TypeError', message: /jti/ })
  await t.rejects(store.consume(42 as never, clock.now() + 1000), { name: 'TypeError' })
  for (const expiresAt of [Number.NaN, Infinity, '1' as never]) {
    await t.rejects(store.consume('x', expiresAt), { name: 'TypeError', message: /expiresAt/ })
  }
  t.equal(await store.consume('kept', clock.now() + 1000), false)
  t.equal(await store.consume('x', clock.now() + 1000), true)
})

t.test('a token id expires exactly at expiresAt on the injected clock', async (t) => {
  const clock = fakeClock()
  const store = new MemoryTokenStore({ clock })
  const expiresAt = clock.now() + 1000
  t.equal(await store.consume('a', expiresAt), true)
  clock.advance(999)
  t.equal(await store.consume('a', expiresAt), false)
  clock.advance(1)
  t.equal(await store.consume('a', clock.now() + 1000), true, 'usable again once expired')
  t.equal(await store.consume('a', clock.now() + 1000), false)
})

t.test('a past expiresAt answers true and stores nothing', async (t) => {
  const clock = fakeClock()
  const store = new MemoryTokenStore({ clock, max: 1 })
  for (let i = 0; i < 3; i++) t.equal(await store.consume('old', clock.now()), true)
  t.equal(await store.consume('live', clock.now() + 1000), true, 'the one slot is still free')
})

t.test('when full it refuses with TokenStoreFullError and never evicts a live id', async (t) => {
  const clock = fakeClock()
  const store = new MemoryTokenStore({ clock, max: 3 })
  for (const [jti, ttl] of [
    ['a', 1000],
    ['b', 2000],
    ['c', 3000],
  ] as const) {
    t.equal(await store.consume(jti, clock.now() + ttl), true)
  }
  const error = await store.consume('d', clock.now() + 1000).catch((e: unknown) => e)
  t.type(error, TokenStoreFullError)
  t.type(error, StoreUnavailableError)
  t.type(error, WardenError)
  t.match(error, {
    name: 'TokenStoreFullError',
    store: 'tokens',
    code: 'store_unavailable',
    status: 503,
    max: 3,
    message: 'memory token store is full (3 unexpired token ids)',
  })
  for (const jti of ['a', 'b', 'c']) {
    t.equal(await store.consume(jti, clock.now() + 1000), false, `${jti} is still used`)
  }
  clock.advance(1000)
  t.equal(await store.consume('d', clock.now() + 5000), true, 'room once a expired')
  t.equal(await store.consume('b', clock.now() + 5000), false)
  t.equal(await store.consume('c', clock.now() + 5000), false)
  await t.rejects(store.consume('e', clock.now() + 5000), TokenStoreFullError)
})

t.test('making room removes only expired ids, oldest first', async (t) => {
  const clock = fakeClock()
  const store = new MemoryTokenStore({ clock, max: 3 })
  await store.consume('a', clock.now() + 100)
  await store.consume('b', clock.now() + 5000)
  await store.consume('c', clock.now() + 200)
  clock.advance(300)
  // a is expired and oldest; the walk frees it and stops at live b, leaving expired c behind.
  t.equal(await store.consume('d', clock.now() + 5000), true)
  // Full again (b, c, d): the next walk passes live b to reach expired c.
  t.equal(await store.consume('e', clock.now() + 5000), true)
  t.equal(await store.sweep(clock.now() + 1), 0, 'nothing expired is left')
  for (const jti of ['b', 'd', 'e']) t.equal(await store.consume(jti, clock.now() + 9000), false)
})

t.test('a re-used expired id keeps the store exact about its earliest expiry', async (t) => {
  const clock = fakeClock()
  const store = new MemoryTokenStore({ clock, max: 2 })
  await store.consume('a', clock.now() + 100)
  await store.consume('b', clock.now() + 5000)
  clock.advance(150)
  t.equal(await store.consume('a', clock.now() + 5000), true, 'expired a is replaced in place')
  await t.rejects(
    store.consume('c', clock.now() + 5000),
    TokenStoreFullError,
    'walks, finds all live',
  )
  await t.rejects(
    store.consume('c', clock.now() + 5000),
    TokenStoreFullError,
    'knows without a walk',
  )
  clock.advance(5000)
  t.equal(await store.consume('c', clock.now() + 5000), true)
})

t.test('sweep removes ids that expired before `before`, never a live one', async (t) => {
  const clock = fakeClock()
  const store = new MemoryTokenStore({ clock })
  const start = clock.now()
  await store.consume('a', start + 100)
  await store.consume('b', start + 200)
  await store.consume('c', start + 300)
  await store.consume('d', start + 10_000)
  t.equal(await store.sweep(start + 10_001), 0, 'nothing has expired yet')
  clock.advance(300)
  t.equal(await store.countSweepable(start + 20_000), 3, 'a dry run counts a, b and c')
  t.equal(await store.countSweepable(start + 200), 1, 'with the same bounds as sweep')
  t.equal(await store.sweep(start + 200), 1, 'before is exclusive')
  t.equal(await store.sweep(start + 20_000), 2, 'd is live and stays')
  t.equal(await store.sweep(start + 20_000), 0)
  t.equal(await store.consume('d', start + 10_000), false)
  t.equal(await store.consume('a', clock.now() + 100), true)
})

t.test('close forgets every id', async (t) => {
  const clock = fakeClock()
  const store = new MemoryTokenStore({ clock, max: 1 })
  await store.consume('a', clock.now() + 1000)
  await store.close()
  t.equal(await store.consume('a', clock.now() + 1000), true)
})
