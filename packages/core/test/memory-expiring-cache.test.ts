import t from 'tap'
import { ExpiringCache, expiresAtOf } from '../src/memory/expiring-cache.js'

function fakeClock(start = 1_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => void (now += ms) }
}

type Entry = { readonly expiresAt: number }

t.test('live answers only unexpired values, on the injected clock', async (t) => {
  const clock = fakeClock()
  const cache = new ExpiringCache<Entry>(10, clock, expiresAtOf)
  const entry = { expiresAt: clock.now() + 100 }
  cache.set('a', entry, clock.now())
  t.equal(cache.live('a', clock.now()), entry)
  t.equal(cache.live('a', clock.now() + 99), entry)
  t.equal(cache.live('a', clock.now() + 100), undefined, 'expiresAt is exclusive')
  t.equal(cache.live('missing', clock.now()), undefined)
})

t.test('lru-cache dropping a stale entry on read agrees with live()', async (t) => {
  const clock = fakeClock()
  const cache = new ExpiringCache<Entry>(10, clock, expiresAtOf)
  cache.set('a', { expiresAt: clock.now() + 100 }, clock.now())
  clock.advance(101)
  t.equal(cache.live('a', clock.now()), undefined)
  t.equal(cache.sweep(Infinity, clock.now()), 0, 'the read already removed it')
})

t.test('makeRoom: true while there is room, without touching anything', async (t) => {
  const clock = fakeClock()
  const cache = new ExpiringCache<Entry>(2, clock, expiresAtOf)
  cache.set('a', { expiresAt: clock.now() + 1 }, clock.now())
  clock.advance(10)
  t.equal(cache.makeRoom(clock.now()), true)
  t.equal(cache.sweep(Infinity, clock.now()), 1, 'the expired entry was left for the sweep')
})

t.test('makeRoom frees expired entries only, and knows when none can be', async (t) => {
  const clock = fakeClock()
  const start = clock.now()
  const cache = new ExpiringCache<Entry>(3, clock, expiresAtOf)
  cache.set('a', { expiresAt: start + 100 }, start)
  cache.set('b', { expiresAt: start + 5000 }, start)
  cache.set('c', { expiresAt: start + 200 }, start)
  t.equal(cache.makeRoom(start + 50), false, 'nothing can have expired yet')
  t.equal(cache.makeRoom(start + 300), true)
  t.equal(cache.live('a', start + 300), undefined)
  t.ok(cache.live('b', start + 300), 'live b stays')
  cache.set('d', { expiresAt: start + 6000 }, start + 300)
  t.equal(cache.makeRoom(start + 300), true, 'passes live b to free c')
  cache.set('e', { expiresAt: start + 7000 }, start + 300)
  t.equal(cache.makeRoom(start + 300), false, 'all live: a full walk')
  t.equal(cache.makeRoom(start + 4999), false, 'before the earliest expiry: no walk needed')
  t.equal(cache.makeRoom(start + 5000), true, 'b expired')
})

t.test('sweep removes what expired before `before` and was expired at `now`', async (t) => {
  const clock = fakeClock()
  const start = clock.now()
  const cache = new ExpiringCache<Entry>(10, clock, expiresAtOf)
  for (const [key, ttl] of [
    ['a', 100],
    ['b', 200],
    ['c', 300],
  ] as const) {
    cache.set(key, { expiresAt: start + ttl }, start)
  }
  t.equal(cache.countSweepable(start + 1000, start + 150), 1, 'counts what sweep removes')
  t.equal(cache.countSweepable(start + 1000, start + 150), 1, 'and removes nothing')
  t.equal(cache.countSweepable(start + 200, start + 1000), 1, 'before is exclusive')
  t.equal(cache.sweep(start + 1000, start + 150), 1, 'b and c are live at now')
  t.equal(cache.sweep(start + 200, start + 1000), 0, 'before is exclusive')
  t.equal(cache.sweep(start + 1000, start + 1000), 2)
  t.equal(cache.makeRoom(start + 1000), true)
})

t.test('sweep makes the earliest expiry exact again', async (t) => {
  const clock = fakeClock()
  const start = clock.now()
  const cache = new ExpiringCache<Entry>(1, clock, expiresAtOf)
  cache.set('a', { expiresAt: start + 100 }, start)
  cache.set('a', { expiresAt: start + 5000 }, start)
  t.equal(cache.sweep(start, start), 0)
  t.equal(cache.makeRoom(start + 200), false, 'knows a lives until start + 5000')
})

t.test('clear empties the cache', async (t) => {
  const clock = fakeClock()
  const cache = new ExpiringCache<Entry>(1, clock, expiresAtOf)
  cache.set('a', { expiresAt: clock.now() + 100 }, clock.now())
  cache.clear()
  t.equal(cache.live('a', clock.now()), undefined)
  t.equal(cache.makeRoom(clock.now()), true)
})

t.test('a value can be its own expiry (a number): live, sweep and makeRoom read it', async (t) => {
  const clock = fakeClock()
  const start = clock.now()
  const cache = new ExpiringCache<number>(2, clock, (expiresAt) => expiresAt)
  cache.set('a', start + 100, start)
  cache.set('b', start + 5000, start)
  t.equal(cache.live('a', start + 99), start + 100)
  t.equal(cache.live('a', start + 100), undefined, 'expiresAt is exclusive')
  t.notOk(cache.makeRoom(start + 50), 'full, nothing expired yet')
  t.ok(cache.makeRoom(start + 200), 'the expired entry makes room')
  t.equal(cache.countSweepable(Infinity, start + 6000), 1)
  t.equal(cache.sweep(Infinity, start + 6000), 1)
  t.equal(cache.live('b', start), undefined)
})
