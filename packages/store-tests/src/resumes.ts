/**
 * The resume store conformance group: save, update, claim (exactly one wins, a wrong credential
 * changes nothing), touch and the sweep of expired sessions.
 *
 * @module
 */
import assert from 'node:assert/strict'
import type { ResumableSession } from '@ws-warden/core/stores'
import { group, sleep, unique, type ConformanceOptions } from './harness.js'

function session(fields: Partial<ResumableSession> = {}): ResumableSession {
  return {
    id: unique('session'),
    userId: 'user-1',
    credentialHash: 'hash-of-the-credential',
    state: '{"c":"conn-1","ch":["lobby"],"f":{"all":3},"d":{"n":1}}',
    expiresAt: Date.now() + 60_000,
    ...fields,
  }
}

/** Resumable sessions: `save`, `update`, `claim` (single use), `touch`, `remove`, `sweep`. */
export function resumeConformance(options: ConformanceOptions): void {
  const test = group(options, 'resumes')

  test('claim with the right hash returns the session once', async (resumes) => {
    const saved = session()
    await resumes.save(saved)
    assert.deepEqual(await resumes.claim(saved.id, saved.credentialHash), saved)
    assert.equal(await resumes.claim(saved.id, saved.credentialHash), null, 'single use')
    assert.equal(await resumes.claim(unique('unknown'), saved.credentialHash), null)
  })

  test('a wrong hash is refused and consumes nothing', async (resumes) => {
    const saved = session()
    await resumes.save(saved)
    assert.equal(await resumes.claim(saved.id, 'hash-of-something-else'), null)
    assert.equal(await resumes.claim(saved.id, ''), null)
    assert.deepEqual(await resumes.claim(saved.id, saved.credentialHash), saved)
  })

  test('20 concurrent claims: exactly one gets the session', async (resumes) => {
    const saved = session()
    await resumes.save(saved)
    const results = await Promise.all(
      Array.from({ length: 20 }, () => resumes.claim(saved.id, saved.credentialHash)),
    )
    assert.equal(results.filter((result) => result !== null).length, 1)
  })

  test('an expired session cannot be claimed; touch keeps one alive', async (resumes) => {
    const expiring = session({ expiresAt: Date.now() + 150 })
    const touched = session({ expiresAt: Date.now() + 150 })
    await resumes.save(expiring)
    await resumes.save(touched)
    await resumes.touch([touched.id, unique('unknown')], Date.now() + 60_000)
    await sleep(400)
    assert.equal(await resumes.claim(expiring.id, expiring.credentialHash), null)
    const claimed = await resumes.claim(touched.id, touched.credentialHash)
    assert.ok(claimed !== null, 'the touched session is still there')
    assert.equal(claimed.id, touched.id)
    assert.ok(claimed.expiresAt > Date.now() + 30_000, 'with its new expiry')
  })

  test('save replaces; the old hash no longer claims', async (resumes) => {
    const first = session()
    const second = {
      ...first,
      credentialHash: 'a-new-hash',
      state: '{"c":"conn-2","ch":[],"f":{}}',
    }
    await resumes.save(first)
    await resumes.save(second)
    assert.equal(await resumes.claim(first.id, first.credentialHash), null)
    assert.deepEqual(await resumes.claim(first.id, second.credentialHash), second)
  })

  test('update replaces a session still there, never one that was claimed', async (resumes) => {
    const saved = session()
    await resumes.save(saved)
    const changed = { ...saved, state: '{"c":"conn-1","ch":[],"f":{}}' }
    assert.equal(await resumes.update(changed), true)
    assert.deepEqual(await resumes.claim(saved.id, saved.credentialHash), changed)
    assert.equal(await resumes.update(saved), false, 'claimed: a late update brings nothing back')
    assert.equal(await resumes.claim(saved.id, saved.credentialHash), null)
    assert.equal(await resumes.update(session()), false, 'an unknown id')
  })

  test('remove is idempotent', async (resumes) => {
    const saved = session()
    await resumes.save(saved)
    assert.equal(await resumes.remove(saved.id), true)
    assert.equal(await resumes.remove(saved.id), false)
    assert.equal(await resumes.claim(saved.id, saved.credentialHash), null)
  })

  test('sweep reports each expired session once and keeps live ones', async (resumes) => {
    const expired = [
      session({ userId: 'u1', expiresAt: Date.now() + 150 }),
      session({ userId: 'u2', expiresAt: Date.now() + 150 }),
    ]
    const live = session()
    for (const saved of [...expired, live]) await resumes.save(saved)
    await sleep(400)
    assert.deepEqual(await resumes.sweep(Date.now() - 60_000), [], 'nothing expired that long ago')
    const both = await Promise.all([resumes.sweep(Date.now()), resumes.sweep(Date.now())])
    const reported = both.flat().sort((x, y) => x.userId.localeCompare(y.userId))
    assert.deepEqual(
      reported,
      expired.map(({ id, userId, expiresAt }) => ({ id, userId, expiresAt })),
      'two concurrent sweeps report each expired session exactly once',
    )
    assert.deepEqual(await resumes.sweep(Date.now() + 3_600_000), [], 'never a live one')
    assert.equal((await resumes.claim(live.id, live.credentialHash))?.id, live.id)
  })
}
