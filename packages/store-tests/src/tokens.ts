/**
 * The token store conformance group: single-use `consume` and the `sweep` of expired ids.
 *
 * @module
 */
import assert from 'node:assert/strict'
import { group, sleep, unique, type ConformanceOptions } from './harness.js'

/** Single-use token ids: `consume` and `sweep`. */
export function tokenConformance(options: ConformanceOptions): void {
  const test = group(options, 'tokens')

  test('consume is true the first time, false after', async (tokens) => {
    const jti = unique('jti')
    const expiresAt = Date.now() + 60_000
    assert.equal(await tokens.consume(jti, expiresAt), true)
    assert.equal(await tokens.consume(jti, expiresAt), false)
    assert.equal(
      await tokens.consume(jti, expiresAt + 60_000),
      false,
      'a later expiry changes nothing',
    )
  })

  test('50 concurrent consumes of one jti: exactly one is true', async (tokens) => {
    const jti = unique('jti')
    const expiresAt = Date.now() + 60_000
    const results = await Promise.all(
      Array.from({ length: 50 }, () => tokens.consume(jti, expiresAt)),
    )
    assert.equal(results.filter(Boolean).length, 1)
  })

  test('with its owner named (as the core does), a jti is consumed once too', async (tokens) => {
    const jti = unique('jti')
    const expiresAt = Date.now() + 60_000
    const results = await Promise.all(
      Array.from({ length: 20 }, () => tokens.consume(jti, expiresAt, 'owner-1')),
    )
    assert.equal(results.filter(Boolean).length, 1)
    assert.equal(await tokens.consume(jti, expiresAt, 'owner-1'), false)
  })

  test('different jtis are independent, also when consumed concurrently', async (tokens) => {
    const expiresAt = Date.now() + 60_000
    const jtis = Array.from({ length: 20 }, () => unique('jti'))
    const first = await Promise.all(jtis.map((jti) => tokens.consume(jti, expiresAt)))
    assert.deepEqual(
      first,
      jtis.map(() => true),
    )
    const again = await Promise.all(jtis.map((jti) => tokens.consume(jti, expiresAt)))
    assert.deepEqual(
      again,
      jtis.map(() => false),
    )
  })

  test('a jti can be consumed again once its record expired', async (tokens) => {
    const jti = unique('jti')
    assert.equal(await tokens.consume(jti, Date.now() + 150), true)
    assert.equal(await tokens.consume(jti, Date.now() + 150), false)
    await sleep(300)
    assert.equal(await tokens.consume(jti, Date.now() + 60_000), true)
    assert.equal(await tokens.consume(jti, Date.now() + 60_000), false)
  })

  test('sweep removes the records that expired before `before` and counts them', async (tokens) => {
    const short = [unique('short'), unique('short'), unique('short')]
    const long = unique('long')
    for (const jti of short) assert.equal(await tokens.consume(jti, Date.now() + 150), true)
    assert.equal(await tokens.consume(long, Date.now() + 60_000), true)
    await sleep(300)
    assert.equal(await tokens.sweep(Date.now() - 60_000), 0, 'nothing expired that long ago')
    assert.equal(await tokens.sweep(Date.now()), 3)
    assert.equal(await tokens.sweep(Date.now()), 0, 'a second sweep finds nothing')
    assert.equal(await tokens.consume(long, Date.now() + 60_000), false, 'the live record stays')
  })

  test('sweep finds the records consumed with an owner too', async (tokens) => {
    // A store may keep them by owner: its sweep must walk those places as well.
    for (const owner of ['owner-a', 'owner-b', 'owner-c']) {
      assert.equal(await tokens.consume(unique('owned'), Date.now() + 150, owner), true)
    }
    assert.equal(await tokens.consume(unique('plain'), Date.now() + 150), true)
    const live = unique('live')
    assert.equal(await tokens.consume(live, Date.now() + 60_000, 'owner-a'), true)
    await sleep(300)
    if (tokens.countSweepable) assert.equal(await tokens.countSweepable(Date.now()), 4)
    assert.equal(await tokens.sweep(Date.now()), 4)
    assert.equal(await tokens.consume(live, Date.now() + 60_000, 'owner-a'), false)
  })

  test('sweep never removes an unexpired record, whatever `before` says', async (tokens) => {
    const jti = unique('jti')
    assert.equal(await tokens.consume(jti, Date.now() + 60_000), true)
    assert.equal(await tokens.sweep(Date.now() + 3_600_000), 0)
    assert.equal(await tokens.consume(jti, Date.now() + 60_000), false, 'no replay after a sweep')
  })
}
