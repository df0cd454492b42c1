import t, { type Test } from 'tap'
import { ComposedAdmission, type AdmitRequest, type AdmitResult } from '@ws-warden/core/stores'
import { bucketOf } from '../src/buckets.js'
import { createRedisStores } from '../src/index.js'
import { admitRequests } from './helpers/admission.js'
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
    const requests: AdmitRequest[] = []
    for (let i = 0; i < 150; i++) {
      const user = `u${i % 7}`
      const ip = `ip${i % 5}`
      const base = request({}, user, ip)
      requests.push({
        ...base,
        attempts: [
          { key: `connect:ip:${ip}`, limit: 24 },
          { key: `connect:user:${user}`, limit: 18 },
        ],
        // Every fourth replays an earlier token; some only count and consume.
        jti: i % 4 === 3 ? (requests[i - 3] as AdmitRequest).jti : base.jti,
        session: { ...base.session, caps: { perUser: 2, perIp: 3, total: 12 } },
      })
      if (i % 9 === 0) delete (requests[i] as { session?: unknown }).session
    }
    const kinds = new Set<string>()
    for (const [i, req] of requests.entries()) {
      const [a, b] = [await native.admit(req), await composed.admit(req)]
      kinds.add(a.ok ? 'ok' : a.reason === 'limit' ? `limit ${a.limit}` : a.reason)
      const strip = (r: AdmitResult) =>
        !r.ok && r.reason === 'attempts' ? { ...r, retryAfterMs: 0 } : r
      t.same(strip(a), strip(b), `request ${i}`)
    }
    t.same(
      [...kinds].sort(),
      ['attempts', 'limit ip', 'limit total', 'limit user', 'ok', 'replayed'],
      'every answer occurred',
    )
    for (const filter of [{}, { userId: 'u1' }, { ip: 'ip2' }]) {
      t.equal(await native.sessions.count(filter), await composed.sessions.count(filter))
    }
    t.same(await native.sessions.stats(), await composed.sessions.stats())
    for (const user of ['u0', 'u3']) {
      t.same(
        (await native.sessions.listByUser(user)).map((r) => r.id),
        (await composed.sessions.listByUser(user)).map((r) => r.id),
      )
    }
  })

  t.test('tokens and attempt counters live in the caps slot', async (t) => {
    const { admission, prefix } = await open(t)
    const req = request()
    t.same(await admission.admit(req), { ok: true })
    const base = `{${prefix}:sessions:caps}`
    t.equal(await client.exists(`${base}:tokens:jti:${req.jti}`), 1)
    t.equal(await client.get(`${base}:rate:win:connect:user:u`), '1')
    t.equal(
      await client.hget(`${base}:ids`, req.session.record.id),
      `${bucketOf('u', 16)}:${req.session.record.ip}`,
    )
    t.equal(await admission.tokens.consume(req.jti, req.tokenExpiresAt), false, 'seen by consume')
    t.equal((await admission.rateLimits.hit('connect:user:u', 100, 60_000)).remaining, 98)
  })

  t.test('an id held by another user in another bucket moves, as add does', async (t) => {
    const { admission, stores } = await open(t)
    const req = request({}, 'alice')
    t.same(await admission.admit(req), { ok: true })
    let other = 'bob'
    for (let i = 0; bucketOf(other, 16) === bucketOf('alice', 16); i++) other = `bob${i}`
    const record = { ...req.session.record, userId: other }
    t.same(await admission.admit({ ...request(), session: { record, caps: {} } }), { ok: true })
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
    await client.del(`{${prefix}:sessions:caps}:ids`)

    // The user side fails (its records are not a hash): the reservation is rolled back, and the
    // removal of the record that may have gone in fails too and is left to the sweep.
    const records = `{${prefix}:sessions:${bucketOf('dave', 16)}}:records`
    await client.set(records, 'not a hash')
    const second = request({}, 'dave')
    await t.rejects(admission.admit(second), /WRONGTYPE/)
    t.equal(await client.hlen(`{${prefix}:sessions:caps}:ids`), 0, 'the reservation was undone')
    t.equal(await stores.tokens.consume(second.jti, second.tokenExpiresAt), false, 'token used')
    await client.del(records)
    t.same(await admission.admit(request({}, 'dave')), { ok: true }, 'then it works')
  })
}
