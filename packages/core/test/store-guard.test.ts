import t from 'tap'
import { ForbiddenError, StoreUnavailableError } from '../src/errors.js'
import { guardStore } from '../src/store-guard.js'

t.test("passes the store's answer through", async (t) => {
  t.equal(await guardStore('sessions', 1_000, async () => 42), 42)
})

t.test('a rejection becomes StoreUnavailableError naming the store, with the cause', async (t) => {
  const cause = new Error('ECONNREFUSED 127.0.0.1:6379')
  const error = await guardStore('rateLimits', 1_000, async () => {
    throw cause
  }).catch((caught: unknown) => caught)
  t.type(error, StoreUnavailableError)
  t.match(error, {
    code: 'store_unavailable',
    status: 503,
    store: 'rateLimits',
    message: 'rateLimits store failed',
    cause,
  })
})

t.test('an operation that throws before returning a promise is handled the same way', async (t) => {
  const cause = new TypeError('pool is closed')
  const error = await guardStore('tokens', 1_000, () => {
    throw cause
  }).catch((caught: unknown) => caught)
  t.type(error, StoreUnavailableError)
  t.match(error, { store: 'tokens', message: 'tokens store failed', cause })
})

t.test('a WardenError is passed on as it is', async (t) => {
  const forbidden = new ForbiddenError('no')
  const error = await guardStore('sessions', 1_000, async () => {
    throw forbidden
  }).catch((caught: unknown) => caught)
  t.equal(error, forbidden)
})

t.test('a store that does not answer fails after the timeout', async (t) => {
  // The guard's timer is unref()'d so it never holds a process open; this one holds the test's.
  const keepAlive = setTimeout(() => {}, 10_000)
  t.teardown(() => clearTimeout(keepAlive))
  const error = await guardStore('sessions', 20, () => new Promise<never>(() => {})).catch(
    (caught: unknown) => caught,
  )
  t.type(error, StoreUnavailableError)
  t.match(error, {
    store: 'sessions',
    message: 'sessions store did not answer within 20 ms',
    status: 503,
  })
  t.notOk((error as StoreUnavailableError).cause, 'a timeout has no cause')
})
