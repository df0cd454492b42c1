import t, { type Test } from 'tap'
import { ComposedAdmission, type AdmitRequest, type AdmitResult } from '@ws-warden/core/stores'
import { bucketOf } from '../src/buckets.js'
import { createRedisStores } from '../src/index.js'
import { admitRequests } from './helpers/admission.js'
import { sameAsComposed } from './helpers/sharded.js'
import { deleteKeys, randomPrefix, sharedRedis } from './helpers/redis.js'

// The two-trip admission of a sharded layout (`buckets` above 1, a Cluster's default) on the
// standalone Redis, beyond the conformance group: the same answers and state as the composed
// calls over a long mixed sequence, where its keys live, what a failing side leaves behind.
// (On a real cluster: cluster.test.ts runs the conformance group and sees the two trips sent.)
const client = await sharedRedis(t)

if (client !== undefined) {
  const open = async (t: Test, buckets = 16) => {
    const prefix = randomPrefix()
    const stores = await createRedisStores({ client, prefix, buckets })
    t.teardown(async () => {
      await stores.close()
      await deleteKeys(client, prefix)
    })
    return { stores, prefix, admission: stores.admission! }
  }

  const request = admitRequests()

  t.test('the same answers and state as the composed calls, over a mixed sequence', async (t) => {
    const native = (await open(t)).admission
    // The reference: the calls composed over one bucket, whose add checks every cap at once (a
    // sharded add reports 'ip' when both the IP and the user cap are full; the admission, which
    // sees both sides' answers, keeps the order user, IP, total).
    const composed = new ComposedAdmission((await open(t, 1)).stores)
    await sameAsComposed(t, native, composed, request)
  })

  t.test(
    'tokens and user windows live in the user bucket, IP windows in the caps slot',
    async (t) => {
      const { admission, prefix } = await open(t)
      const req = request()
      t.same(await admission.admit(req), { ok: true })
      const user = `{${prefix}:sessions:${bucketOf('u', 16)}}`
      const caps = `{${prefix}:sessions:caps}`
      t.equal(await client.exists(`${user}:tokens:jti:${req.jti}`), 1)
      t.equal(await client.get(`${user}:rate:win:connect:user:u`), '1')
      t.equal(await client.get(`${caps}:rate:win:connect:ip:${req.session.record.ip}`), '1')
      t.equal(
        await client.hget(`${caps}:ids`, req.session.record.id),
        `${bucketOf('u', 16)}:${req.session.record.ip}`,
      )
      t.equal(await client.exists(`${caps}:tokens:jti:${req.jti}`), 0, 'no token in the caps slot')
      t.equal(
        await admission.tokens.consume(req.jti, req.tokenExpiresAt, 'u'),
        false,
        'seen by consume',
      )
      t.equal((await admission.rateLimits.hit('connect:user:u', 100, 60_000)).remaining, 98)
      t.equal(
        (await admission.rateLimits.hit(`connect:ip:${req.session.record.ip}`, 100, 60_000))
          .remaining,
        98,
      )
      // Without an owner, a consume keeps to the jti's own bucket (mixing is not supported).
      t.equal(await admission.tokens.consume(req.jti, req.tokenExpiresAt), true)
      t.equal(await client.exists(`{${prefix}:tokens:${bucketOf(req.jti, 16)}}:jti:${req.jti}`), 1)
      // Other rate-limit keys keep to their own buckets.
      await admission.rateLimits.hit('other', 5, 60_000)
      t.equal(await client.get(`{${prefix}:rate:${bucketOf('other', 16)}}:win:other`), '1')
    },
  )

  t.test('each side indexes the windows it opens at their ends', async (t) => {
    const { admission, prefix } = await open(t)
    const sides = {
      'connect:ip:192.0.2.9': `{${prefix}:sessions:caps}:rate`,
      'connect:user:ivo': `{${prefix}:sessions:${bucketOf('ivo', 16)}}:rate`,
    }
    t.same(await admission.admit(request({}, 'ivo', '192.0.2.9')), { ok: true })
    for (const [key, base] of Object.entries(sides)) {
      const end = await client.pexpiretime(`${base}:win:${key}`)
      const score = Number(await client.zscore(`${base}:expiry`, key))
      t.ok(end > 0 && Math.abs(score - end) <= 1, `${key} is indexed at its end`)
    }
  })

  t.test('attempts it cannot split into the two sides run as the composed calls', async (t) => {
    const { admission, stores } = await open(t)
    const reference = new ComposedAdmission((await open(t)).stores)
    const shapes: AdmitRequest[] = []
    const base = request({}, 'erin')
    // The user first, another key, another user's window, a record of another user.
    shapes.push({ ...base, attempts: [...base.attempts].reverse() })
    shapes.push({ ...request({}, 'erin'), attempts: [{ key: 'custom', limit: 1 }] })
    shapes.push({ ...request({}, 'erin'), attempts: [{ key: 'connect:user:zed', limit: 9 }] })
    const other = request({}, 'erin')
    shapes.push({
      ...other,
      session: { ...other.session, record: { ...other.session.record, userId: 'zed' } },
    })
    const strip = (r: AdmitResult) =>
      !r.ok && r.reason === 'attempts' ? { ...r, retryAfterMs: 0 } : r
    for (const shape of shapes) {
      t.same(strip(await admission.admit(shape)), strip(await reference.admit(shape)))
      t.same(strip(await admission.admit(shape)), strip(await reference.admit(shape)), 'again')
    }
    t.equal(await stores.sessions.count({ userId: 'zed' }), 1)
    t.equal(await stores.sessions.count({ userId: 'erin' }), 3)
  })

  t.test('the user side alone, both sides refused, an owner that is not a string', async (t) => {
    const { admission, stores, prefix } = await open(t)
    // No IP counter and no record: only the user's bucket is asked.
    const alone = { ...request({}, 'gil'), attempts: [{ key: 'connect:user:gil', limit: 1 }] }
    const { session: _, ...countOnly } = alone
    t.same(await admission.admit(countOnly), { ok: true })
    t.equal(await client.exists(`{${prefix}:sessions:caps}:ids`), 0, 'nothing in the caps slot')
    // The IP and the user refuse at once: the IP's answer, the user's hits given back.
    const both = (jti?: string) => ({
      ...request({}, 'gil', '192.0.2.99'),
      ...(jti && { jti }),
      attempts: [
        { key: 'connect:ip:192.0.2.99', limit: 1 },
        { key: 'connect:user:gil', limit: 1 },
      ],
    })
    t.match(await admission.admit(both()), { reason: 'attempts', key: 'connect:user:gil' })
    t.match(await admission.admit(both()), { reason: 'attempts', key: 'connect:ip:192.0.2.99' })
    t.equal((await stores.rateLimits.hit('connect:user:gil', 100, 60_000)).remaining, 97)
    // Both sides fail: the caps side's error is thrown.
    await client.set(`{${prefix}:sessions:caps}:ids`, 'not a hash')
    await client.set(`{${prefix}:sessions:${bucketOf('hal', 16)}}:records`, 'not a hash')
    await t.rejects(admission.admit(request({}, 'hal')), /WRONGTYPE/)
    await t.rejects(stores.tokens.consume('j', Date.now() + 1000, 5 as never), {
      name: 'TypeError',
      message: 'ws-warden: consume(owner) needs a string when given',
    })
  })

  t.test('an id held by another user in another bucket moves, as add does', async (t) => {
    const { admission, stores } = await open(t)
    const req = request({}, 'alice')
    t.same(await admission.admit(req), { ok: true })
    let other = 'bob'
    for (let i = 0; bucketOf(other, 16) === bucketOf('alice', 16); i++) other = `bob${i}`
    const record = { ...req.session.record, userId: other }
    const again = request({}, other)
    t.same(await admission.admit({ ...again, session: { record, caps: {} } }), { ok: true })
    t.equal(await stores.sessions.count({ userId: 'alice' }), 0, 'the old record was replaced')
    t.equal((await stores.sessions.get(record.id))?.userId, other)
    t.equal(await stores.sessions.count(), 1)
  })

  t.test('a side that fails: the other side is given back, the error thrown', async (t) => {
    const { admission, stores, prefix } = await open(t)
    // The caps side fails (its directory is not a hash): the record the user side wrote goes.
    await client.set(`{${prefix}:sessions:caps}:ids`, 'not a hash')
    const first = request({}, 'carol')
    await t.rejects(admission.admit(first), /WRONGTYPE/)
    t.equal(await stores.sessions.count({ userId: 'carol' }), 0, 'no record left')
    t.equal(
      await stores.tokens.consume(first.jti, first.tokenExpiresAt, 'carol'),
      true,
      'token back',
    )
    t.equal(
      (await stores.rateLimits.hit('connect:user:carol', 100, 60_000)).remaining,
      99,
      'no hit',
    )
    await client.del(`{${prefix}:sessions:caps}:ids`)

    // The user side fails (its records are not a hash): the reservation is rolled back, and the
    // removal of the record that may have gone in fails too and is left to the sweep.
    const records = `{${prefix}:sessions:${bucketOf('dave', 16)}}:records`
    await client.set(records, 'not a hash')
    const second = request({}, 'dave')
    await t.rejects(admission.admit(second), /WRONGTYPE/)
    t.equal(await client.hlen(`{${prefix}:sessions:caps}:ids`), 0, 'the reservation was undone')
    t.equal(
      await stores.tokens.consume(second.jti, second.tokenExpiresAt, 'dave'),
      false,
      'token used',
    )
    await client.del(records)
    t.same(await admission.admit(request({}, 'dave')), { ok: true }, 'then it works')
  })
}
