import t, { type Test } from 'tap'
import type { AdmitRequest } from '@ws-warden/core/stores'
import { Redis } from 'ioredis'
import type { RedisAdmissionStore } from '../src/admission.js'
import { createRedisStores, type RedisStores } from '../src/index.js'
import { admitRequests, commandsOf } from './helpers/admission.js'
import { deleteKeys, randomPrefix, sharedRedis, startOwnRedis } from './helpers/redis.js'

// `admitMany` on a standalone Redis, beyond the conformance group: the limit, the layout of
// requests of different shapes in one script, and how a call fails.
const client = await sharedRedis(t)

type OneScript = RedisStores & { admission: RedisAdmissionStore; prefix: string }

/** One-bucket stores on `redis` under a fresh prefix, closed and deleted in teardown. */
async function open(t: Test, redis: Redis): Promise<OneScript> {
  const prefix = randomPrefix()
  const stores = await createRedisStores({ client: redis, prefix })
  t.teardown(async () => {
    await stores.close()
    await deleteKeys(redis, prefix)
  })
  return { ...stores, admission: stores.admission as RedisAdmissionStore, prefix }
}

/** `admission.admitMany(requests)`, already handled: for a call checked after it returns. */
function started(stores: OneScript, requests: AdmitRequest[]): Promise<unknown> {
  const call = stores.admission.admitMany(requests)
  call.catch(() => {})
  return call
}

/** Whether `request`'s token is still unused (using it up). */
async function unused(stores: OneScript, request: AdmitRequest): Promise<boolean> {
  return stores.tokens.consume(request.jti, request.tokenExpiresAt, request.userId)
}

if (client !== undefined) {
  const request = admitRequests()

  t.test('a call of exactly admitManyLimit is one EVALSHA; one more sends nothing', async (t) => {
    const own = client.duplicate()
    t.teardown(() => void own.disconnect())
    const stores = await open(t, own)
    const admission = stores.admission
    t.equal(admission.admitManyLimit, 64)
    // The first call on a connection may load the script (EVAL after NOSCRIPT): warm it.
    t.same(await admission.admit(request()), { ok: true })
    const full = Array.from({ length: 64 }, (_, i) => request({}, `u${i}`))
    let answers: readonly unknown[] = []
    const sent = await commandsOf(own, async () => (answers = await admission.admitMany(full)))
    t.same(sent, ['evalsha'])
    t.equal(answers.length, 64)
    t.ok(answers.every((answer) => (answer as { ok: boolean }).ok))
    t.equal(await stores.sessions.count(), 65)
    const over = Array.from({ length: 65 }, () => request())
    let call: Promise<unknown> = Promise.resolve()
    t.same(await commandsOf(own, async () => void (call = started(stores, over))), [])
    await t.rejects(call, {
      name: 'RangeError',
      message: 'ws-warden: admitMany takes at most 64 requests, got 65',
    })
    t.equal(await stores.sessions.count(), 65, 'nothing of it was admitted')
    t.equal(await unused(stores, over[0]!), true)
  })

  t.test('requests of every shape in one call keep their own keys and arguments', async (t) => {
    const stores = await open(t, client)
    const window = (key: string) => ({ key, limit: 1 })
    const many = Array.from({ length: 40 }, (_, i) => window(`k${i}`))
    const fresh = Array.from({ length: 39 }, (_, i) => window(`x${i}`))
    const plain = request()
    const record = { ...plain.session.record, id: 'with-channels', channels: ['a', 'b', 'a'] }
    const { session: _, ...countOnly } = { ...request(), attempts: many }
    const requests: AdmitRequest[] = [
      plain,
      countOnly,
      // 39 fresh windows, then one the request before spent: refused at its 40th attempt.
      { ...request(), attempts: [...fresh, window('k20')] },
      { ...request(), session: { record, caps: { perUser: 2 } } },
      { ...request(), session: { record: { ...record, id: 'third' }, caps: { perUser: 2 } } },
    ]
    const answers = await stores.admission.admitMany(requests)
    t.same(answers.slice(0, 2), [{ ok: true }, { ok: true }])
    const refused = answers[2]!
    t.ok(!refused.ok && refused.reason === 'attempts' && refused.key === 'k20', 'the 40th')
    t.ok(!refused.ok && refused.reason === 'attempts' && refused.retryAfterMs > 0)
    t.same(answers.slice(3), [{ ok: true }, { ok: false, reason: 'limit', limit: 'user' }])
    t.same(await stores.sessions.get('with-channels'), { ...record, channels: ['a', 'b'] })
    t.equal(await stores.sessions.count(), 2)
    const tokens = []
    for (const r of requests) tokens.push(await unused(stores, r))
    t.same(tokens, [false, false, true, false, false], 'only the refused one kept its token')
    const remaining = async (key: string) =>
      (await stores.rateLimits.hit(key, 10, 60_000)).remaining
    t.equal(await remaining('x0'), 8, 'a refused admission counted its attempts up to the refusal')
    t.equal(await remaining('k20'), 7, 'counted twice, refused once')
    t.equal(await remaining('k39'), 8)
  })

  t.test('a bad request anywhere rejects the call before anything is sent', async (t) => {
    const own = client.duplicate()
    t.teardown(() => void own.disconnect())
    const stores = await open(t, own)
    const good = request()
    const bad = { ...request(), attempts: [{ key: 'k', limit: 0 }] }
    let call: Promise<unknown> = Promise.resolve()
    t.same(await commandsOf(own, async () => void (call = started(stores, [good, bad]))), [])
    await t.rejects(call, {
      name: 'TypeError',
      message: 'ws-warden: hit(limit) must be a positive integer, got 0',
    })
    t.equal(await unused(stores, good), true, 'the good one was not admitted either')
  })

  t.test('an error inside the script rejects the whole call', async (t) => {
    const stores = await open(t, client)
    await client.hset(`{${stores.prefix}:rate}:win:broken`, 'not', 'a counter')
    const before = request()
    const after = request()
    const broken = { ...request(), attempts: [{ key: 'broken', limit: 5 }] }
    await t.rejects(stores.admission.admitMany([before, broken, after]), /WRONGTYPE/)
    // Redis keeps what a script wrote before its error: the admission before it, as `admit` would.
    t.equal(await unused(stores, before), false, 'the one before ran')
    t.equal(await unused(stores, after), true, 'the one after never ran')
    t.equal(await stores.sessions.count(), 1)
  })
}

const { redis, skip } = await startOwnRedis()

// On a server of its own: SCRIPT FLUSH on the shared one would reach every other test's scripts.
t.test('after SCRIPT FLUSH the next call loads the script again', { skip }, async (t) => {
  t.teardown(() => redis.stop())
  const own = new Redis(redis.url)
  t.teardown(() => void own.disconnect())
  const stores = await open(t, own)
  const request = admitRequests()
  const first = [request(), request()]
  t.same(await stores.admission.admitMany(first), [{ ok: true }, { ok: true }])
  await own.script('FLUSH')
  const again = [request({ jti: first[0]!.jti }), request()]
  t.same(await stores.admission.admitMany(again), [{ ok: false, reason: 'replayed' }, { ok: true }])
  t.equal(await stores.sessions.count(), 3)
})
