/**
 * The `admitMany` conformance group: several admissions in one call answer exactly as `admit`
 * one after the other, also when calls run concurrently, and the whole admission group passes
 * again with `admit` going through the warden's batching (so its concurrent handshakes meet in
 * one call).
 *
 * @module
 */
import assert from 'node:assert/strict'
import type { AdmissionStore, AdmitRequest, AdmitResult } from '@ws-warden/core/stores'
import { AdmissionBatcher, DEFAULT_ADMIT_MANY_LIMIT } from '@ws-warden/core/stores'
import { admissionTests, assertAttempts, handshakes, left, ok } from './admission.js'
import { group, unique, type ConformanceOptions, type GroupTest } from './harness.js'

type Batching = AdmissionStore & Required<Pick<AdmissionStore, 'admitMany'>>

function batching(store: AdmissionStore): Batching {
  if (store.admitMany === undefined) throw new Error('this admission store has no admitMany')
  return store as Batching
}

/** `store` with its `admit` going through the batching a warden puts in front of `admitMany`. */
function batched(store: AdmissionStore): AdmissionStore {
  const many = batching(store)
  const batcher = new AdmissionBatcher(
    (requests) => many.admitMany(requests),
    store.admitManyLimit ?? DEFAULT_ADMIT_MANY_LIMIT,
  )
  return {
    sessions: store.sessions,
    tokens: store.tokens,
    rateLimits: store.rateLimits,
    admit: (request) => batcher.admit(request),
  }
}

/** An answer without what names its keys, so answers of two scopes compare. */
function shape(request: AdmitRequest, result: AdmitResult): string {
  if (result.ok) return 'ok'
  if (result.reason === 'attempts') {
    return `attempts#${request.attempts.findIndex(({ key }) => key === result.key)}`
  }
  return result.reason === 'limit' ? `limit:${result.limit}` : result.reason
}

/** A small seeded generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = Math.imul(state ^ (state >>> 15), 1 | state)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Registers the `admitMany` group. `storeConformance` does when the admission store has one. */
export function admitManyConformance(options: ConformanceOptions): void {
  const base = group(options, 'admission')
  const test: GroupTest<'admission'> = (name, body) =>
    base(`admitMany: ${name}`, (store) => body(batching(store)))
  admissionTests((name, body) => base(`batched admit: ${name}`, (store) => body(batched(store))))

  test('an empty call answers an empty list', async (store) => {
    assert.deepEqual(await batching(store).admitMany([]), [])
  })

  test('one call: a later request sees what an earlier one counted, used and inserted', async (store) => {
    const many = batching(store)
    const { request } = handshakes()
    const first = request({ caps: { perUser: 2 } })
    const requests = [
      first,
      request({ jti: first.jti, caps: { perUser: 2 } }),
      request({ caps: { perUser: 2 } }),
      request({ caps: { perUser: 2 } }),
      request({ insert: false, caps: { perUser: 2 } }),
      request({ ipLimit: 5, caps: { perUser: 2 } }),
    ]
    const answers = await many.admitMany(requests)
    assert.deepEqual(answers.slice(0, 5), [
      ok,
      { ok: false, reason: 'replayed' },
      ok,
      { ok: false, reason: 'limit', limit: 'user' },
      ok,
    ])
    assertAttempts(answers[5] as AdmitResult, requests[5]!.attempts[0]!.key)
    const refused = requests[5]!
    assert.equal(
      await many.tokens.consume(refused.jti, refused.tokenExpiresAt, refused.userId),
      true,
      'the refused one left its token unused',
    )
    const capped = requests[3]!
    assert.equal(
      await many.tokens.consume(capped.jti, capped.tokenExpiresAt, capped.userId),
      false,
      'the capped one used its token',
    )
    assert.equal(await many.sessions.count({ userId: first.userId }), 2)
    // Five counted the user (the sixth was refused at its IP), and this hit.
    assert.equal(await left(many, first.attempts[1]!.key, 100), 100 - 6)
  })

  test('as many requests as admitManyLimit in one call', async (store) => {
    const many = batching(store)
    const { request } = handshakes()
    const limit = many.admitManyLimit ?? DEFAULT_ADMIT_MANY_LIMIT
    const requests = Array.from({ length: limit }, (_, i) =>
      request({ user: `u${i}`, ipLimit: 1e6 }),
    )
    const answers = await many.admitMany(requests)
    assert.equal(answers.length, limit)
    assert.ok(answers.every((answer) => answer.ok))
    assert.equal(await many.sessions.count({ ip: requests[0]!.session!.record.ip }), limit)
  })

  test('4 concurrent calls of 10 handshakes of one user, cap 5: exactly 5 admitted', async (store) => {
    const many = batching(store)
    const { request } = handshakes()
    const calls = Array.from({ length: 4 }, () =>
      many.admitMany(Array.from({ length: 10 }, () => request({ caps: { perUser: 5 } }))),
    )
    const answers = (await Promise.all(calls)).flat()
    assert.equal(answers.filter((a) => a.ok).length, 5)
    assert.ok(answers.every((a) => a.ok || (a.reason === 'limit' && a.limit === 'user')))
    assert.equal(await many.sessions.count({ userId: request().userId }), 5)
  })

  test('one token in 3 concurrent calls of 5: exactly one admitted', async (store) => {
    const many = batching(store)
    const { request } = handshakes()
    const jti = unique('jti')
    const calls = Array.from({ length: 3 }, (_, c) =>
      many.admitMany(Array.from({ length: 5 }, (_, i) => request({ jti, ip: `ip${c}-${i}` }))),
    )
    const answers = (await Promise.all(calls)).flat()
    assert.equal(answers.filter((a) => a.ok).length, 1)
    assert.equal(answers.filter((a) => !a.ok && a.reason === 'replayed').length, 14)
  })

  test('200 random handshakes: calls of 1-20 answer as admit one by one', async (store) => {
    const many = batching(store)
    const next = random(0x5eed)
    const pick = (n: number) => Math.floor(next() * n)
    // One script of handshakes, played in two scopes: jtis repeat, limits and caps bind.
    const script = Array.from({ length: 200 }, () => ({
      user: `u${pick(5)}`,
      ip: `ip${pick(3)}`,
      jti: pick(160),
      ipLimit: 30 + pick(20),
      userLimit: 25 + pick(20),
      insert: next() > 0.2,
      caps: { perUser: 4, perIp: 9 },
    }))
    const play = () => {
      const { request } = handshakes()
      const scope = unique('jti')
      return script.map(({ jti, ...h }) => request({ ...h, jti: `${scope}-${jti}` }))
    }
    const one = play()
    const expected: string[] = []
    for (const request of one) expected.push(shape(request, await many.admit(request)))
    const batchedRequests = play()
    const got: string[] = []
    for (let at = 0; at < batchedRequests.length;) {
      const batch = batchedRequests.slice(at, at + 1 + pick(20))
      const answers = await many.admitMany(batch)
      batch.forEach((request, i) => got.push(shape(request, answers[i] as AdmitResult)))
      at += batch.length
    }
    assert.deepEqual(got, expected)
    assert.ok(
      new Set(expected).size >= 4,
      `the script exercises refusals: ${[...new Set(expected)]}`,
    )
  })
}
