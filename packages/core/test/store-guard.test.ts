import t from 'tap'
import { stat } from 'node:fs'
import { ForbiddenError, StoreUnavailableError } from '../src/errors.js'
import { guardStore, inProcessCall } from '../src/store-guard.js'

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

/** Keeps the event loop busy (synchronously) for `ms`. */
function block(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // busy
  }
}

/** Completes through I/O: its callback runs in the event loop's poll phase. */
function io(): Promise<void> {
  return new Promise((resolve, reject) =>
    stat(process.cwd(), (error) => (error ? reject(error) : resolve())),
  )
}

/**
 * Starts `guarded` from an I/O callback (where a message handler runs) and keeps the loop busy
 * for `ms` after it: the timers run before the next poll phase.
 */
function busyAfter<T>(ms: number, guarded: () => Promise<T>): Promise<T> {
  return new Promise((resolve) => {
    stat(process.cwd(), () => {
      resolve(guarded())
      block(ms)
    })
  })
}

t.test('time the event loop spent busy does not count against the store', async (t) => {
  const keepAlive = setTimeout(() => {}, 10_000)
  t.teardown(() => clearTimeout(keepAlive))
  // The answer arrives while the loop is blocked, long past the timeout; when the loop is free
  // again, the timer is due before the answer is read.
  const answer = await busyAfter(250, () =>
    guardStore('broker', 50, () => io().then(() => 'delivered')),
  )
  t.equal(answer, 'delivered', 'the answer that was there is taken, not a timeout')
})

t.test('a store that does not answer still fails when the loop was busy', async (t) => {
  const keepAlive = setTimeout(() => {}, 10_000)
  t.teardown(() => clearTimeout(keepAlive))
  const error = await busyAfter(200, () =>
    guardStore('broker', 40, () => new Promise<never>(() => {})),
  ).catch((caught: unknown) => caught)
  t.type(error, StoreUnavailableError, 'the extension is bounded, whatever the block')
  t.match(error, { store: 'broker', message: 'broker store did not answer within 40 ms' })
})

t.test('an in-process call: the answer as it is, failures as the guard gives them', async (t) => {
  t.equal(await inProcessCall('admission', async () => 7), 7)
  const cause = new TypeError('bad key')
  const rejected = await inProcessCall('admission', async () => {
    throw cause
  }).catch((caught: unknown) => caught)
  t.type(rejected, StoreUnavailableError)
  t.match(rejected, { store: 'admission', message: 'admission store failed', cause })
  const thrown = await inProcessCall('admission', () => {
    throw cause
  }).catch((caught: unknown) => caught)
  t.match(thrown, { store: 'admission', cause }, 'a synchronous throw too')
  const forbidden = new ForbiddenError('no')
  const passed = await inProcessCall('admission', async () => {
    throw forbidden
  }).catch((caught: unknown) => caught)
  t.equal(passed, forbidden, 'a WardenError is passed on as it is')
})
