/**
 * The admission conformance group: `AdmissionStore.admit` answers exactly like the three calls
 * it stands for (attempts, single-use consume, capped insert), also under concurrent callers.
 *
 * @module
 */
import assert from 'node:assert/strict'
import type {
  AdmissionStore,
  AdmitRequest,
  AdmitResult,
  ConnectionCaps,
  SessionRecord,
} from '@ws-warden/core/stores'
import { group, unique, type ConformanceOptions, type GroupTest } from './harness.js'

export const T = Math.floor(Date.now() / 1000) * 1000
export const WINDOW = 60_000
export const ok: AdmitResult = { ok: true }

interface Handshake {
  readonly ip?: string
  readonly user?: string
  readonly jti?: string
  readonly ipLimit?: number
  readonly userLimit?: number
  readonly caps?: ConnectionCaps
  /** False: count and consume only. */
  readonly insert?: boolean
}

/** Keys of one test, so that its attempt counters never meet another test's. */
export function handshakes(): { request: (h?: Handshake) => AdmitRequest; ids: string[] } {
  const scope = unique('adm')
  const ids: string[] = []
  const request = (h: Handshake = {}): AdmitRequest => {
    const ip = h.ip ?? '203.0.113.7'
    const user = h.user ?? 'user-1'
    const id = unique('conn')
    ids.push(id)
    const record: SessionRecord = {
      id,
      userId: `${scope}-${user}`,
      instanceId: 'instance-1',
      ip: `${scope}-${ip}`,
      channels: [],
      connectedAt: T,
      lastSeenAt: T,
    }
    return {
      attempts: [
        { key: `connect:ip:${scope}-${ip}`, limit: h.ipLimit ?? 100 },
        { key: `connect:user:${scope}-${user}`, limit: h.userLimit ?? 100 },
      ],
      windowMs: WINDOW,
      userId: record.userId,
      jti: h.jti ?? unique('jti'),
      tokenExpiresAt: Date.now() + WINDOW,
      ...(h.insert !== false && { session: { record, caps: h.caps ?? {} } }),
    }
  }
  return { request, ids }
}

/** The attempts a key has left, read by spending one more. */
export async function left(store: AdmissionStore, key: string, limit: number): Promise<number> {
  return (await store.rateLimits.hit(key, limit, WINDOW)).remaining
}

export function assertAttempts(result: AdmitResult, key: string): void {
  assert.equal(result.ok, false)
  assert.ok(
    !result.ok && result.reason === 'attempts',
    `refused by attempts: ${JSON.stringify(result)}`,
  )
  assert.equal(result.key, key)
  assert.ok(result.retryAfterMs > 0 && result.retryAfterMs <= WINDOW, 'retryAfterMs in the window')
}

/** One-round-trip admission: `admit`. */
export function admissionConformance(options: ConformanceOptions): void {
  admissionTests(group(options, 'admission'))
}

/**
 * The admission tests, each with a given `test` registrar (`admit` itself, or `admit` through
 * `admitMany`'s batching: see `admitManyConformance`).
 */
export function admissionTests(test: GroupTest<'admission'>): void {
  test('an admitted handshake counts both attempts, uses its token, inserts its record', async (store) => {
    const { request } = handshakes()
    const req = request()
    assert.deepEqual(await store.admit(req), ok)
    const [ip, user] = req.attempts
    assert.equal(await left(store, ip!.key, 100), 98, 'one IP attempt counted')
    assert.equal(await left(store, user!.key, 100), 98, 'one user attempt counted')
    assert.equal(
      await store.tokens.consume(req.jti, req.tokenExpiresAt, req.userId),
      false,
      'token used',
    )
    const record = await store.sessions.get(req.session!.record.id)
    assert.equal(record?.userId, req.session!.record.userId)
    assert.equal(record?.ip, req.session!.record.ip)
  })

  test('without a session it counts and consumes only', async (store) => {
    const { request } = handshakes()
    const req = request({ insert: false })
    assert.deepEqual(await store.admit(req), ok)
    assert.equal(await store.tokens.consume(req.jti, req.tokenExpiresAt, req.userId), false)
    assert.equal(await store.sessions.count({ userId: req.attempts[1]!.key.slice(13) }), 0)
  })

  test('an IP over its attempts: refused, the user not counted, the token unused', async (store) => {
    const { request } = handshakes()
    assert.deepEqual(await store.admit(request({ ipLimit: 1 })), ok)
    const refused = request({ ipLimit: 1 })
    const answer = await store.admit(refused)
    assertAttempts(answer, refused.attempts[0]!.key)
    assert.equal(await left(store, refused.attempts[1]!.key, 100), 98, 'only the first counted')
    assert.equal(
      await store.tokens.consume(refused.jti, refused.tokenExpiresAt, refused.userId),
      true,
    )
    assert.equal(await store.sessions.get(refused.session!.record.id), null)
    assertAttempts(await store.admit(request({ ipLimit: 1 })), refused.attempts[0]!.key)
  })

  test('a user over its attempts: refused after the IP was counted, token unused', async (store) => {
    const { request } = handshakes()
    assert.deepEqual(await store.admit(request({ userLimit: 1, ip: 'a' })), ok)
    const refused = request({ userLimit: 1, ip: 'b' })
    assertAttempts(await store.admit(refused), refused.attempts[1]!.key)
    assert.equal(await left(store, refused.attempts[0]!.key, 100), 98, 'the IP attempt counted')
    assert.equal(
      await store.tokens.consume(refused.jti, refused.tokenExpiresAt, refused.userId),
      true,
    )
    assert.equal(await store.sessions.get(refused.session!.record.id), null)
  })

  test('a replayed token: the attempts count, nothing is inserted', async (store) => {
    const { request } = handshakes()
    const first = request()
    assert.deepEqual(await store.admit(first), ok)
    const replay = request({ jti: first.jti })
    assert.deepEqual(await store.admit(replay), { ok: false, reason: 'replayed' })
    assert.equal(await left(store, replay.attempts[0]!.key, 100), 97, 'both handshakes counted')
    assert.equal(await store.sessions.get(replay.session!.record.id), null)
    assert.equal(await store.sessions.count({ userId: first.session!.record.userId }), 1)
  })

  test('a token its owner consumed first (a refresh): the admission answers replayed', async (store) => {
    const { request } = handshakes()
    const req = request()
    assert.equal(await store.tokens.consume(req.jti, req.tokenExpiresAt, req.userId), true)
    assert.deepEqual(await store.admit(req), { ok: false, reason: 'replayed' })
    assert.equal(await store.sessions.get(req.session!.record.id), null)
    const both = request()
    const answers = await Promise.all([
      store.admit(both),
      store.tokens.consume(both.jti, both.tokenExpiresAt, both.userId),
    ])
    assert.equal(answers.filter((a) => a === true || (a !== false && a.ok)).length, 1, 'one use')
  })

  test('caps: user before IP before total; a refused insert still uses the token', async (store) => {
    const { request } = handshakes()
    assert.deepEqual(await store.admit(request({ caps: { perUser: 1 } })), ok)
    const byUser = request({ caps: { perUser: 1, perIp: 1, total: 1 } })
    assert.deepEqual(await store.admit(byUser), { ok: false, reason: 'limit', limit: 'user' })
    assert.equal(
      await store.tokens.consume(byUser.jti, byUser.tokenExpiresAt, byUser.userId),
      false,
    )
    assert.equal(await store.sessions.get(byUser.session!.record.id), null)
    assert.deepEqual(await store.admit(request({ user: 'u2', caps: { perIp: 1, total: 1 } })), {
      ok: false,
      reason: 'limit',
      limit: 'ip',
    })
    assert.deepEqual(await store.admit(request({ user: 'u3', ip: 'other', caps: { total: 1 } })), {
      ok: false,
      reason: 'limit',
      limit: 'total',
    })
  })

  test('40 concurrent handshakes of one user, cap 5: exactly 5 admitted', async (store) => {
    const { request } = handshakes()
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => store.admit(request({ caps: { perUser: 5 } }))),
    )
    assert.equal(answers.filter((a) => a.ok).length, 5)
    assert.ok(answers.every((a) => a.ok || (a.reason === 'limit' && a.limit === 'user')))
    const userId = (request().session as { record: SessionRecord }).record.userId
    assert.equal(await store.sessions.count({ userId }), 5)
  })

  test('40 concurrent handshakes of many users on one IP, cap 7: exactly 7', async (store) => {
    const { request } = handshakes()
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        store.admit(request({ user: `u${i}`, caps: { perIp: 7 } })),
      ),
    )
    assert.equal(answers.filter((a) => a.ok).length, 7)
    const ip = (request().session as { record: SessionRecord }).record.ip
    assert.equal(await store.sessions.count({ ip }), 7)
  })

  test('40 concurrent handshakes of many users and IPs, total cap 9: exactly 9', async (store) => {
    const { request } = handshakes()
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        store.admit(request({ user: `u${i}`, ip: `ip${i}`, caps: { total: 9 } })),
      ),
    )
    assert.equal(answers.filter((a) => a.ok).length, 9)
    assert.ok(answers.every((a) => a.ok || (a.reason === 'limit' && a.limit === 'total')))
    assert.equal(await store.sessions.count(), 9)
  })

  test('concurrent handshakes of one user over its user cap and its IP cap: user first', async (store) => {
    const { request } = handshakes()
    // Both caps full: every refusal names the user cap, the first one checked.
    assert.deepEqual(await store.admit(request({ caps: { perUser: 1, perIp: 1 } })), ok)
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => store.admit(request({ caps: { perUser: 1, perIp: 1 } }))),
    )
    for (const answer of answers) {
      assert.deepEqual(answer, { ok: false, reason: 'limit', limit: 'user' })
    }
    assert.equal(await store.sessions.count(), 1)
  })

  test('30 concurrent handshakes with one token: exactly one admitted', async (store) => {
    const { request } = handshakes()
    const jti = unique('jti')
    // One token has one owner: every handshake that presents it is of that user.
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => store.admit(request({ jti, ip: `ip${i}` }))),
    )
    assert.equal(answers.filter((a) => a.ok).length, 1)
    assert.equal(answers.filter((a) => !a.ok && a.reason === 'replayed').length, 29)
  })

  test('30 concurrent handshakes from one IP, 12 attempts: exactly 12 pass', async (store) => {
    const { request } = handshakes()
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => store.admit(request({ user: `u${i}`, ipLimit: 12 }))),
    )
    assert.equal(answers.filter((a) => a.ok).length, 12)
    assert.equal(answers.filter((a) => !a.ok && a.reason === 'attempts').length, 18)
  })
}
