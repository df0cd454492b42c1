import t from 'tap'
import {
  ageOption,
  clockOption,
  countOption,
  durationOption,
  featureOption,
  integerOption,
  isNonEmptyString,
  isPositiveSafeInteger,
  isRecord,
  isStringArray,
  nonEmpty,
  onErrorOption,
  positiveInteger,
  stringListOption,
  systemClock,
} from '../src/validate.js'

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

t.test('onErrorOption takes a function or nothing, and names the owner otherwise', async (t) => {
  t.equal(onErrorOption('Store', undefined), undefined)
  const report = () => {}
  t.equal(onErrorOption('Store', report), report)
  for (const value of [null, 5, 'log', {}]) {
    t.throws(() => onErrorOption('Store', value as unknown as () => void), {
      name: 'TypeError',
      message: 'ws-warden: Store option onError must be a function',
    })
  }
})

t.test('integerOption names the option; durationOption also takes 0', async (t) => {
  t.equal(integerOption('limits.x', undefined, 9), 9)
  t.equal(integerOption('limits.x', 4, 9), 4)
  t.throws(() => integerOption('limits.x', 0, 9), {
    message: 'ws-warden: option limits.x must be a positive integer, got 0',
  })
  t.equal(durationOption('shutdown.drainMs', 0, 9), 0)
  t.equal(durationOption('shutdown.drainMs', undefined, 9), 9)
  t.throws(() => durationOption('shutdown.drainMs', -1, 9), {
    message: 'ws-warden: option shutdown.drainMs must be a positive integer, got -1',
  })
})

t.test('ageOption takes non-negative integers', async (t) => {
  t.equal(ageOption('sweep.a', undefined, 5), 5)
  t.equal(ageOption('sweep.a', 0, 5), 0)
  for (const value of [-1, 0.5, '1', null]) {
    t.throws(() => ageOption('sweep.a', value, 5), {
      name: 'TypeError',
      message: `ws-warden: option sweep.a must be a non-negative integer, got ${String(value)}`,
    })
  }
})

t.test('the predicates', async (t) => {
  t.ok(isPositiveSafeInteger(1))
  t.notOk(isPositiveSafeInteger(2 ** 60))
  t.notOk(isPositiveSafeInteger(0))
  t.notOk(isPositiveSafeInteger('1'))
  t.ok(isNonEmptyString('a'))
  t.notOk(isNonEmptyString(''))
  t.notOk(isNonEmptyString(1))
  t.ok(isStringArray([]))
  t.ok(isStringArray(['a']))
  t.notOk(isStringArray([1]))
  t.notOk(isStringArray('a'))
  t.ok(isRecord({}))
  t.notOk(isRecord([]))
  t.notOk(isRecord(null))
  t.notOk(isRecord('x'))
})

t.test('nonEmpty names the argument', async (t) => {
  t.doesNotThrow(() => nonEmpty('Store.read(stream)', 'a'))
  for (const value of ['', 3, undefined]) {
    t.throws(() => nonEmpty('Store.read(stream)', value), {
      name: 'TypeError',
      message: 'ws-warden: Store.read(stream) needs a non-empty string',
    })
  }
})

t.test('stringListOption takes arrays of non-empty strings', async (t) => {
  t.equal(stringListOption('origins', undefined), undefined)
  t.same(stringListOption('origins', ['a', 'b']), ['a', 'b'])
  for (const value of ['a', [''], [1], null]) {
    t.throws(() => stringListOption('origins', value), {
      name: 'TypeError',
      message: 'ws-warden: option origins must be an array of non-empty strings',
    })
  }
})

t.test('featureOption: off, on with defaults, or an object; needs heartbeats', async (t) => {
  t.equal(featureOption('refresh', undefined, true), false)
  t.equal(featureOption('refresh', false, false), false)
  t.same(featureOption('refresh', true, true), {})
  const given = { leadMs: 5 }
  t.equal(featureOption('refresh', given, true), given)
  for (const value of [1, 'yes', null]) {
    t.throws(() => featureOption('refresh', value as never, true), {
      name: 'TypeError',
      message: 'ws-warden: option refresh must be a boolean or an object',
    })
  }
  t.throws(() => featureOption('refresh', true, false), {
    message: 'ws-warden: option refresh needs heartbeats (heartbeat is false)',
  })
})
