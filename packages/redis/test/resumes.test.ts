import t, { type Test } from 'tap'
import type { ResumableSession } from '@ws-warden/core/stores'
import { RedisResumeStore } from '../src/index.js'
import { deleteKeys, randomPrefix, sharedRedis, until } from './helpers/redis.js'

// What the conformance suite cannot see: session keys Redis drops by itself (PXAT), the window in
// which a key is still there but expired, and touch and sweep in batches.

const redis = await sharedRedis(t)

if (redis !== undefined) {
  const client = redis
  const setup = (t: Test) => {
    const prefix = randomPrefix()
    t.teardown(async () => void (await deleteKeys(client, prefix)))
    const tag = `{${prefix}:resumes}`
    const resumes = new RedisResumeStore({ client, prefix })
    return { resumes, key: (id: string) => `${tag}:session:${id}`, index: `${tag}:expiry` }
  }
  const session = (id: string, fields: Partial<ResumableSession> = {}): ResumableSession => ({
    id,
    userId: `user-of-${id}`,
    credentialHash: 'Qmx1ZS1za3ktaGFzaC1vZi10aGUtY3JlZGVudGlhbC0',
    state: '{"c":"conn","ch":["lobby"],"f":{"all":3}}',
    expiresAt: Date.now() + 60_000,
    ...fields,
  })

  t.test('a session whose key Redis dropped is still reported by one sweep', async (t) => {
    const { resumes, key } = setup(t)
    const expiring = session('a', { expiresAt: Date.now() + 1 })
    const past = session('b', { expiresAt: Date.now() - 1000.5 })
    await resumes.save(expiring)
    await resumes.save(past)
    t.equal(await client.exists(key('b')), 0, 'saved already expired: no key at all')
    await until(async () => (await client.exists(key('a'))) === 0, 'Redis to drop the key')
    const reported = await resumes.sweep(Date.now() + 60_000)
    t.same(
      reported.sort((x, y) => x.id.localeCompare(y.id)),
      [expiring, past].map(({ id, userId, expiresAt }) => ({ id, userId, expiresAt })),
    )
    t.same(await resumes.sweep(Date.now() + 60_000), [], 'once')
    t.equal(await resumes.remove('a'), false, 'nothing left to remove')
  })

  t.test('expired but not swept yet: no claim, no update, no touch; remove is quiet', async (t) => {
    const { resumes, key } = setup(t)
    const saved = session('s')
    await resumes.save(saved)
    // The ms in which Redis still has the key although its expiresAt passed, made to last.
    const past = String(Date.now() - 1)
    await client.hset(key('s'), 'e', past)
    await client.persist(key('s'))
    t.equal(await resumes.claim('s', saved.credentialHash), null)
    t.equal(await resumes.update({ ...saved, expiresAt: Date.now() + 60_000 }), false)
    await resumes.touch(['s'], Date.now() + 60_000)
    t.equal(await client.hget(key('s'), 'e'), past, 'touch did not bring it back')
    t.equal(await resumes.remove('s'), true, 'it was still there')
    t.same(await resumes.sweep(Date.now() + 60_000), [], 'removed, so never reported')
  })

  t.test('expiresAt comes back exactly; the key expires at the next whole ms', async (t) => {
    const { resumes, key } = setup(t)
    const saved = session('s', { expiresAt: Date.now() + 60_000.25 })
    await resumes.save(saved)
    t.equal(await client.pexpiretime(key('s')), Math.ceil(saved.expiresAt))
    t.same(await resumes.claim('s', saved.credentialHash), saved)
  })

  t.test('touch and sweep many sessions, in batches', async (t) => {
    const { resumes, key, index } = setup(t)
    const ids = Array.from({ length: 2500 }, (_, i) => `s${i}`)
    await Promise.all(ids.map((id) => resumes.save(session(id))))
    const later = Date.now() + 120_000
    await resumes.touch([...ids.slice(0, 2400), 'unknown'], later)
    t.equal(await client.zcount(index, later, later), 2400, 'touched in the index')
    t.equal(await client.pexpiretime(key('s2399')), later, 'and on the key')
    t.ok((await client.pexpiretime(key('s2400'))) < later, 'the others kept theirs')
    await resumes.touch([], later)

    const gone = ids.slice(0, 1500)
    await Promise.all(gone.map((id) => resumes.save(session(id, { expiresAt: Date.now() - 10 }))))
    const reported = await resumes.sweep(Date.now())
    t.equal(reported.length, gone.length)
    t.same(new Set(reported.map((s) => s.id)), new Set(gone), 'each one, once')
    t.equal(await client.zcard(index), 1000, 'the live ones stay')
  })
}
