// The admission tests' comparison with the composed calls (one script, sharded, cluster).
import type { Test } from 'tap'
import type { AdmissionStore, AdmitRequest, AdmitResult } from '@ws-warden/core/stores'
import type { admitRequests } from './admission.js'

/**
 * Runs a long mixed sequence of handshakes (7 users, 5 IPs, tight attempt limits and caps, some
 * replays of a user's earlier token, some count-only) through an admission store and through
 * the composed calls, and checks that every answer and the state left behind are the same: the
 * records, the attempt windows (each spent once more) and which tokens are used. Every refusal
 * path occurs, and with it every compensation.
 */
export async function sameAsComposed(
  t: Test,
  native: AdmissionStore,
  composed: AdmissionStore,
  request: ReturnType<typeof admitRequests>,
): Promise<void> {
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
      // Every fourth replays an earlier token of the same user (a token has one owner); some
      // only count and consume.
      jti: i % 4 === 3 && i >= 7 ? (requests[i - 7] as AdmitRequest).jti : base.jti,
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
  for (const key of [0, 1, 2, 3, 4].map((i) => `connect:ip:ip${i}`)) {
    const spend = (store: AdmissionStore) => store.rateLimits.hit(key, 1000, 60_000)
    t.equal((await spend(native)).remaining, (await spend(composed)).remaining, key)
  }
  for (const key of [0, 1, 2, 3, 4, 5, 6].map((i) => `connect:user:u${i}`)) {
    const spend = (store: AdmissionStore) => store.rateLimits.hit(key, 1000, 60_000)
    t.equal((await spend(native)).remaining, (await spend(composed)).remaining, key)
  }
  const used = async (store: AdmissionStore) => {
    const fresh: boolean[] = []
    for (const r of requests)
      fresh.push(await store.tokens.consume(r.jti, r.tokenExpiresAt, r.userId))
    return fresh
  }
  t.same(await used(native), await used(composed), 'the same tokens were used')
}
