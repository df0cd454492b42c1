/**
 * The rate-limit store conformance group: counts, refusals and their retry-after, windows, keys
 * kept apart, and the sweep.
 *
 * @module
 */
import assert from 'node:assert/strict'
import type { RateLimitResult } from '@ws-warden/core/stores'
import { group, sleep, unique, type ConformanceOptions } from './harness.js'

const allowed = (remaining: number): RateLimitResult => ({
  allowed: true,
  remaining,
  retryAfterMs: 0,
})

function assertRefused(result: RateLimitResult, windowMs: number, message?: string): void {
  assert.equal(result.allowed, false, message)
  assert.equal(result.remaining, 0, message)
  assert.ok(
    result.retryAfterMs > 0 && result.retryAfterMs <= windowMs,
    `retryAfterMs ${result.retryAfterMs} should be in (0, ${windowMs}]${message ? `: ${message}` : ''}`,
  )
}

/** Fixed-window counters: `hit` and `sweep`. */
export function rateLimitConformance(options: ConformanceOptions): void {
  const test = group(options, 'rateLimits')

  test('exactly `limit` hits are allowed, counting down, then refused', async (rateLimits) => {
    const key = unique('ip:127.0.0.1')
    for (let remaining = 4; remaining >= 0; remaining--) {
      assert.deepEqual(await rateLimits.hit(key, 5, 60_000), allowed(remaining))
    }
    for (let i = 0; i < 3; i++) assertRefused(await rateLimits.hit(key, 5, 60_000), 60_000)
  })

  test('keys are independent', async (rateLimits) => {
    const [a, b] = [unique('a'), unique('b')]
    assert.deepEqual(await rateLimits.hit(a, 1, 60_000), allowed(0))
    assertRefused(await rateLimits.hit(a, 1, 60_000), 60_000)
    assert.deepEqual(await rateLimits.hit(b, 1, 60_000), allowed(0))
  })

  test('50 concurrent hits with limit 20: exactly 20 allowed', async (rateLimits) => {
    const key = unique('burst')
    const results = await Promise.all(
      Array.from({ length: 50 }, () => rateLimits.hit(key, 20, 60_000)),
    )
    const passed = results.filter((result) => result.allowed)
    assert.equal(passed.length, 20)
    const remaining = passed.map((result) => result.remaining).sort((x, y) => x - y)
    assert.deepEqual(
      remaining,
      Array.from({ length: 20 }, (_, i) => i),
      'each count seen once',
    )
    for (const result of results.filter((r) => !r.allowed)) assertRefused(result, 60_000)
  })

  // Windows here are real time on the store's clock and long next to the sleeps between hits, so a
  // loaded machine that stalls a call for a second still lands every hit where it is meant to.
  test('the window resets `windowMs` after the first hit', async (rateLimits) => {
    const key = unique('reset')
    const window = 2000
    assert.deepEqual(await rateLimits.hit(key, 2, window), allowed(1))
    const opened = Date.now() // the window began before this
    assert.deepEqual(await rateLimits.hit(key, 2, window), allowed(0))
    assertRefused(await rateLimits.hit(key, 2, window), window)
    await sleep(Math.max(0, opened + window + 50 - Date.now()))
    assert.deepEqual(await rateLimits.hit(key, 2, window), allowed(1), 'a new window')
  })

  test('refused hits count but do not extend the window', async (rateLimits) => {
    const key = unique('fixed')
    const window = 2000
    assert.deepEqual(await rateLimits.hit(key, 1, window), allowed(0))
    const opened = Date.now() // the window began before this
    await sleep(300)
    const sent = Date.now()
    const refused = await rateLimits.hit(key, 1, window)
    assertRefused(refused, window)
    // Counted from the first hit: at most what was left of the window when this one was sent
    // (a window restarted by the refused hit would say about `window`). 5 ms: clock rounding.
    assert.ok(
      refused.retryAfterMs <= window - (sent - opened) + 5,
      `retryAfterMs ${refused.retryAfterMs} counts from the first hit`,
    )
    await sleep(300)
    assertRefused(await rateLimits.hit(key, 1, window), window, 'still refused later in the window')
    await sleep(Math.max(0, opened + window + 50 - Date.now()))
    // A window sliding from the last refused hit would still be closed here.
    assert.deepEqual(await rateLimits.hit(key, 1, window), allowed(0))
  })

  test('sweep removes the windows that ended before `before` and counts them', async (rateLimits) => {
    const [short1, short2, long] = [unique('short'), unique('short'), unique('long')]
    await rateLimits.hit(short1, 5, 150)
    await rateLimits.hit(short2, 5, 150)
    await rateLimits.hit(long, 5, 60_000)
    await rateLimits.hit(long, 5, 60_000)
    await sleep(300)
    assert.equal(await rateLimits.sweep(Date.now() - 60_000), 0, 'nothing ended that long ago')
    assert.equal(await rateLimits.sweep(Date.now()), 2)
    assert.equal(await rateLimits.sweep(Date.now()), 0, 'a second sweep finds nothing')
    assert.deepEqual(
      await rateLimits.hit(long, 5, 60_000),
      allowed(2),
      'the open window kept its count',
    )
    assert.deepEqual(await rateLimits.hit(short1, 5, 150), allowed(4), 'a swept key starts over')
  })

  test('the connect-attempt windows the core counts are swept like any other', async (rateLimits) => {
    // A store may keep these keys apart (beside the sessions): its sweep must find them there.
    const keys = [unique('connect:ip:198.51.100.'), unique('connect:user:u'), unique('other')]
    for (const key of keys) await rateLimits.hit(key, 5, 150)
    await rateLimits.hit(unique('connect:user:long'), 5, 60_000)
    await sleep(300)
    if (rateLimits.countSweepable) assert.equal(await rateLimits.countSweepable(Date.now()), 3)
    assert.equal(await rateLimits.sweep(Date.now()), 3)
    assert.equal(await rateLimits.sweep(Date.now()), 0)
  })

  test('sweep never removes an open window, whatever `before` says', async (rateLimits) => {
    const key = unique('open')
    await rateLimits.hit(key, 2, 60_000)
    assert.equal(await rateLimits.sweep(Date.now() + 3_600_000), 0)
    assert.deepEqual(await rateLimits.hit(key, 2, 60_000), allowed(0))
  })
}
