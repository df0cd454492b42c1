import t from 'tap'
import { clockOption, countOption, positiveInteger, systemClock } from '../src/memory/options.js'

t.test('positiveInteger accepts positive integers and names what it refuses', async (t) => {
  t.equal(positiveInteger('hit(limit)', 1), 1)
  t.equal(positiveInteger('hit(limit)', 2 ** 40), 2 ** 40)
  for (const value of [0, -1, 1.5, Number.NaN, Infinity, '3', null, undefined]) {
    t.throws(() => positiveInteger('hit(limit)', value), {
      name: 'TypeError',
      message: `ws-warden: hit(limit) must be a positive integer, got ${String(value)}`,
    })
  }
})

t.test('countOption falls back only when the option is undefined', async (t) => {
  t.equal(countOption('Store', 'max', undefined, 7), 7)
  t.equal(countOption('Store', 'max', 3, 7), 3)
  t.throws(() => countOption('Store', 'max', 0, 7), {
    message: 'ws-warden: Store option max must be a positive integer, got 0',
  })
})

t.test('clockOption takes anything with now(), else the system clock', async (t) => {
  t.equal(clockOption('Store', undefined), systemClock)
  const before = Date.now()
  const now = systemClock.now()
  t.ok(now >= before && now <= Date.now())
  t.equal(clockOption('Store', Date), Date)
  const fake = { now: () => 5 }
  t.equal(clockOption('Store', fake), fake)
  for (const value of [null, 5, 'now', {}, { now: 5 }]) {
    t.throws(() => clockOption('Store', value), {
      name: 'TypeError',
      message: 'ws-warden: Store option clock must be an object with a now() method',
    })
  }
})
