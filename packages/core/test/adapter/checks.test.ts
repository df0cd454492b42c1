import t from 'tap'
import { adapterFail, checkAdapterOptions, isEndpoint } from '../../src/adapter/checks.js'

const fail = adapterFail('@ws-warden/test')
const warden = { admit: () => {}, attach: () => {} }

t.test('adapterFail throws a TypeError that names the adapter', async (t) => {
  t.throws(() => fail('option x is wrong'), new TypeError('@ws-warden/test: option x is wrong'))
})

t.test('isEndpoint: an object whose permissions, if any, are strings', async (t) => {
  for (const value of [{}, { permissions: [] }, { permissions: ['a', 'b'] }]) {
    t.ok(isEndpoint(value), JSON.stringify(value))
  }
  for (const value of [
    null,
    undefined,
    'x',
    () => {},
    { permissions: 'a' },
    { permissions: [1] },
  ]) {
    t.notOk(isEndpoint(value), String(value))
  }
})

t.test('checkAdapterOptions: a warden, and getUserId a function if given', async (t) => {
  t.doesNotThrow(() => checkAdapterOptions(fail, { warden }))
  t.doesNotThrow(() => checkAdapterOptions(fail, { warden, getUserId: () => 'a' }))
  const cases: [unknown, RegExp][] = [
    [undefined, /option warden must be a Warden \(from createWarden\)/],
    [{}, /option warden must be a Warden/],
    [{ warden: { admit: () => {} } }, /option warden must be a Warden/],
    [{ warden, getUserId: 'alice' }, /option getUserId must be a function/],
  ]
  for (const [options, message] of cases) {
    t.throws(() => checkAdapterOptions(fail, options as { warden: unknown }), {
      name: 'TypeError',
      message,
    })
  }
})
