import t, { type Test } from 'tap'
import { ComposedAdmission, type AdmitResult } from '@ws-warden/core/stores'
import { createRedisStores, type RedisStores } from '../src/index.js'
import { admitRequests, commandsOf } from './helpers/admission.js'
import { sameAsComposed } from './helpers/sharded.js'
import { deleteKeys, randomPrefix, sharedRedis, until } from './helpers/redis.js'

// The one-script admission of a standalone Redis, beyond the conformance group: one round trip,
// the same answers as the composed calls over a long mixed sequence, what it is made with.
const client = await sharedRedis(t)

if (client !== undefined) {
  const open = async (t: Test, options: { buckets?: number; failOpen?: boolean } = {}) => {
    const prefix = randomPrefix()
    const stores = await createRedisStores({
      client,
      prefix,
      buckets: options.buckets,
      rateLimitFailOpen: options.failOpen,
    })
    t.teardown(async () => {
      await stores.close()
      await deleteKeys(client, prefix)
    })
    return stores
  }

  const request = admitRequests()

  t.test('an admission is one EVALSHA, a refusal too; composed it is four', async (t) => {
    const own = client.duplicate()
    t.teardown(() => void own.disconnect())
    const prefix = randomPrefix()
    const stores = await createRedisStores({ client: own, prefix })
    t.teardown(async () => {
      await stores.close()
      await deleteKeys(client, prefix)
    })
    const admission = stores.admission!
    // The first call on a connection may load the script (EVAL after NOSCRIPT): warm it.
    t.same(await admission.admit(request()), { ok: true })
    const first = request()
    t.same(await commandsOf(own, () => admission.admit(first)), ['evalsha'])
    const replay = request({ jti: first.jti })
    let answer: AdmitResult | undefined
    t.same(await commandsOf(own, async () => (answer = await admission.admit(replay))), ['evalsha'])
    t.same(answer, { ok: false, reason: 'replayed' })
    const composed = new ComposedAdmission(admission)
    await composed.admit(request())
    t.equal((await commandsOf(own, () => composed.admit(request()))).length, 4)
  })

  t.test('the same answers and state as the composed calls, over a mixed sequence', async (t) => {
    const native = (await open(t)).admission!
    await sameAsComposed(t, native, new ComposedAdmission(await open(t)), request)
  })

  t.test('a refused attempt: retryAfterMs is the window left, at least 1', async (t) => {
    const { admission, rateLimits } = await open(t)
    const { session: _, ...req } = { ...request(), attempts: [{ key: 'k', limit: 1 }] }
    t.same(await admission!.admit(req), { ok: true })
    const answer = await admission!.admit({ ...req, jti: 'other' })
    t.equal(answer.ok, false)
    const hit = await rateLimits.hit('k', 1, 60_000)
    t.ok(!answer.ok && answer.reason === 'attempts' && answer.key === 'k')
    const retry = !answer.ok && answer.reason === 'attempts' ? answer.retryAfterMs : 0
    t.ok(retry >= hit.retryAfterMs && retry <= 60_000, 'the same window as hit sees')
    t.same(
      await admission!.admit({ ...req, jti: 'none', attempts: [] }),
      { ok: true },
      'no attempts',
    )
  })

  t.test('the windows an admission opens are indexed at their ends, and swept', async (t) => {
    const prefix = randomPrefix()
    const stores = await createRedisStores({ client, prefix })
    t.teardown(async () => {
      await stores.close()
      await deleteKeys(client, prefix)
    })
    const admission = stores.admission!
    const rate = `{${prefix}:rate}`
    /** The rate-limit expiry index: member -> score. */
    const index = async () => {
      const flat = await client.zrange(`${rate}:expiry`, '0', '-1', 'WITHSCORES')
      const scores = new Map<string, number>()
      for (let i = 0; i < flat.length; i += 2) scores.set(flat[i]!, Number(flat[i + 1]))
      return scores
    }
    const indexedAtEnd = async (key: string, what: string) => {
      const end = await client.pexpiretime(`${rate}:win:${key}`)
      t.ok(end > 0 && Math.abs(((await index()).get(key) ?? 0) - end) <= 1, what)
    }
    // Both windows open in one admission: both indexed, each at its end.
    t.same(await admission.admit(request({}, 'wes', '192.0.2.7')), { ok: true })
    t.same([...(await index()).keys()].sort(), ['connect:ip:192.0.2.7', 'connect:user:wes'])
    await indexedAtEnd('connect:ip:192.0.2.7', 'the IP window, opened with the user window')
    await indexedAtEnd('connect:user:wes', 'the user window')
    // Three at once (not the core's shape): two in one write, the third in its own.
    const three = ['k1', 'k2', 'k3'].map((key) => ({ key, limit: 5 }))
    t.same(await admission.admit(request({ attempts: three })), { ok: true })
    for (const { key } of three) await indexedAtEnd(key, `${key}, one of three`)
    for (const { key } of three) await client.del(`${rate}:win:${key}`)
    await client.zrem(`${rate}:expiry`, 'k1', 'k2', 'k3')
    // Only the user window opens (the IP's is open): it is indexed alone.
    t.same(await admission.admit(request({}, 'ada', '192.0.2.7')), { ok: true })
    await indexedAtEnd('connect:user:ada', 'a window opened beside an open one')
    // A window that lost its expiry gets it back, and its entry moves to its new end.
    const ipEnd = (await index()).get('connect:ip:192.0.2.7')
    await client.persist(`${rate}:win:connect:user:wes`)
    t.same(await admission.admit(request({}, 'wes', '192.0.2.7')), { ok: true })
    await indexedAtEnd('connect:user:wes', 'a lost expiry is repaired and re-indexed')
    t.equal((await index()).get('connect:ip:192.0.2.7'), ipEnd, 'an open window is not re-indexed')
    // Windows opened together end together, and the sweep finds both.
    t.same(await admission.admit(request({ windowMs: 20 }, 'bo', '192.0.2.8')), { ok: true })
    const short = ['connect:ip:192.0.2.8', 'connect:user:bo'].map((key) => `${rate}:win:${key}`)
    await until(async () => (await client.exists(...short)) === 0, 'the short windows to end')
    t.equal(await stores.rateLimits.countSweepable(Date.now() + 60_000), 2, 'both ended windows')
    t.equal(await stores.rateLimits.sweep(Date.now() + 60_000), 2)
    t.same([...(await index()).keys()].sort(), [
      'connect:ip:192.0.2.7',
      'connect:user:ada',
      'connect:user:wes',
    ])
  })

  t.test('a record stored as add stores it: channels once, replaced by id', async (t) => {
    const { admission, sessions } = await open(t)
    const req = request()
    const record = { ...req.session.record, channels: ['a', 'b', 'a'] }
    t.same(await admission!.admit({ ...req, session: { record, caps: {} } }), { ok: true })
    t.same(await sessions.get(record.id), { ...record, channels: ['a', 'b'] })
    const moved = { ...record, userId: 'other', channels: [] }
    const again = request()
    t.same(await admission!.admit({ ...again, session: { record: moved, caps: { perUser: 1 } } }), {
      ok: true,
    })
    t.equal(await sessions.count({ userId: record.userId }), 0, 'the old record was replaced')
    t.equal(await sessions.count(), 1)
  })

  t.test('bad requests throw as the separate calls would, and change nothing', async (t) => {
    const { admission, tokens } = await open(t)
    const req = request()
    await t.rejects(admission!.admit({ ...req, windowMs: 0 }), {
      name: 'TypeError',
      message: 'ws-warden: hit(windowMs) must be a positive integer, got 0',
    })
    await t.rejects(admission!.admit({ ...req, attempts: [{ key: 'k', limit: 1.5 }] }), {
      message: 'ws-warden: hit(limit) must be a positive integer, got 1.5',
    })
    await t.rejects(admission!.admit({ ...req, jti: '' }), {
      message: 'ws-warden: consume(jti) needs a non-empty string',
    })
    await t.rejects(admission!.admit({ ...req, tokenExpiresAt: Number.NaN }), {
      message: 'ws-warden: consume(expiresAt) needs a finite epoch time in ms',
    })
    t.equal(await tokens.consume(req.jti, req.tokenExpiresAt), true, 'the token is unused')
  })

  t.test('one script over one bucket, two over buckets, none with rateLimitFailOpen', async (t) => {
    t.equal((await open(t, { buckets: 1 })).admission?.constructor.name, 'RedisAdmissionStore')
    const sharded = await open(t, { buckets: 16 })
    t.equal(sharded.admission?.constructor.name, 'RedisShardedAdmissionStore', 'buckets')
    t.equal(sharded.admission?.tokens, sharded.tokens)
    t.equal((await open(t, { failOpen: true })).admission, undefined, 'fail open: composed')
    t.equal((await open(t, { failOpen: true, buckets: 4 })).admission, undefined)
    const stores: RedisStores = await open(t)
    t.equal(stores.admission?.sessions, stores.sessions, 'it names the stores it works on')
    t.equal(stores.admission?.tokens, stores.tokens)
    t.equal(stores.admission?.rateLimits, stores.rateLimits)
  })
}
