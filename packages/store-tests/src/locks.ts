/**
 * The lock store conformance group: one holder at a time, release, expiry.
 *
 * @module
 */
import assert from 'node:assert/strict'
import { group, sleep, unique, type ConformanceOptions } from './harness.js'

/** Named expiring locks: `acquire` and its release function. */
export function lockConformance(options: ConformanceOptions): void {
  const test = group(options, 'locks')

  test('one holder at a time; a release frees the lock', async (locks) => {
    const name = unique('lock')
    const release = await locks.acquire(name, 10_000)
    assert.equal(typeof release, 'function')
    assert.equal(await locks.acquire(name, 10_000), null, 'a second holder is refused')
    assert.equal(
      typeof (await locks.acquire(unique('lock'), 10_000)),
      'function',
      'names are independent',
    )
    await release!()
    await release!()
    const again = await locks.acquire(name, 10_000)
    assert.equal(typeof again, 'function', 'free again after release')
    await again!()
  })

  test('20 concurrent acquires of one lock: exactly one holder', async (locks) => {
    const name = unique('lock')
    const results = await Promise.all(Array.from({ length: 20 }, () => locks.acquire(name, 10_000)))
    assert.equal(results.filter((release) => release !== null).length, 1)
  })

  test('a lock never released expires after ttlMs; the stale release does not free a successor', async (locks) => {
    const name = unique('lock')
    const stale = await locks.acquire(name, 200)
    assert.notEqual(stale, null)
    await sleep(1_100)
    const successor = await locks.acquire(name, 10_000)
    assert.notEqual(successor, null, 'expired')
    await stale!()
    assert.equal(await locks.acquire(name, 10_000), null, 'still held by the successor')
    await successor!()
  })
}
