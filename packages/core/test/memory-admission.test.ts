// The memory stores' one-step admission, against the composed calls it stands for.
import t from 'tap'
import { ComposedAdmission } from '../src/composed-admission.js'
import {
  MemoryAdmissionStore,
  MemoryRateLimitStore,
  MemorySessionStore,
  MemoryTokenStore,
  TokenStoreFullError,
} from '../src/memory/index.js'
import type { AdmitRequest } from '../src/store-contracts.js'

function memoryStores(clock: { now(): number }) {
  return {
    sessions: new MemorySessionStore(),
    tokens: new MemoryTokenStore({ clock, max: 60 }),
    rateLimits: new MemoryRateLimitStore({ clock }),
  }
}

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): (n: number) => number {
  let state = seed
  return (n) => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
    return state % n
  }
}

t.test('answers exactly as the composed calls over a long random sequence', async (t) => {
  let now = 1_000_000
  const clock = { now: () => now }
  const one = new MemoryAdmissionStore(memoryStores(clock))
  const composed = new ComposedAdmission(memoryStores(clock))
  const pick = random(7)
  const seen = new Map<string, number>()
  for (let i = 0; i < 2_000; i++) {
    const userId = `u${pick(6)}`
    const ip = `10.0.0.${pick(4)}`
    const request: AdmitRequest = {
      attempts: [
        { key: `connect:ip:${ip}`, limit: 40 },
        { key: `connect:user:${userId}`, limit: 25 },
      ],
      windowMs: 1_000,
      userId,
      // Some tokens come back: replays.
      jti: `j${pick(900)}`,
      tokenExpiresAt: now + 1_000 + pick(3_000),
      ...(pick(5) !== 0 && {
        session: {
          record: {
            id: `c${i}`,
            userId,
            instanceId: 'i',
            ip,
            channels: [],
            connectedAt: now,
            lastSeenAt: now,
          },
          caps: { perUser: 3, perIp: 5, total: 14 },
        },
      }),
    }
    const [a, b] = await Promise.all([
      one.admit(request).catch((error: unknown) => (error as Error).name),
      composed.admit(request).catch((error: unknown) => (error as Error).name),
    ])
    const answer = typeof a === 'string' ? a : a.ok ? 'ok' : a.reason
    seen.set(answer, (seen.get(answer) ?? 0) + 1)
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      t.fail(`request ${i}: ${JSON.stringify(a)} against ${JSON.stringify(b)}`)
      return
    }
    // Sessions end now and then, and time moves on.
    if (pick(3) === 0) {
      const id = `c${i - pick(20)}`
      await Promise.all([one.sessions.remove(id), composed.sessions.remove(id)])
    }
    now += pick(40)
  }
  t.same(
    [...seen.keys()].sort(),
    ['TokenStoreFullError', 'attempts', 'limit', 'ok', 'replayed'],
    `every answer came up: ${JSON.stringify([...seen])}`,
  )
})

t.test('a full token store rejects, after the attempts were counted', async (t) => {
  const clock = { now: () => 1_000 }
  const stores = { ...memoryStores(clock), tokens: new MemoryTokenStore({ clock, max: 1 }) }
  const admission = new MemoryAdmissionStore(stores)
  const request = (jti: string): AdmitRequest => ({
    attempts: [{ key: 'connect:ip:a', limit: 10 }],
    windowMs: 1_000,
    userId: 'u',
    jti,
    tokenExpiresAt: 5_000,
  })
  t.same(await admission.admit(request('one')), { ok: true })
  await t.rejects(admission.admit(request('two')), TokenStoreFullError)
  const hit = await stores.rateLimits.hit('connect:ip:a', 10, 1_000)
  t.equal(hit.remaining, 7, 'both attempts counted, and this hit')
})

t.test('admitMany answers as admit on each request in order', async (t) => {
  const clock = { now: () => 1_000 }
  const many = new MemoryAdmissionStore(memoryStores(clock))
  const one = new MemoryAdmissionStore(memoryStores(clock))
  const requests: AdmitRequest[] = ['a', 'a', 'b'].map((jti, i) => ({
    attempts: [{ key: 'connect:ip:10.0.0.1', limit: 2 }],
    windowMs: 1_000,
    userId: 'u',
    jti,
    tokenExpiresAt: 5_000,
    session: {
      record: {
        id: `c${i}`,
        userId: 'u',
        instanceId: 'i',
        ip: '10.0.0.1',
        channels: [],
        connectedAt: 1_000,
        lastSeenAt: 1_000,
      },
      caps: {},
    },
  }))
  const expected = []
  for (const request of requests) expected.push(await one.admit(request))
  const answers = await many.admitMany(requests)
  t.same(answers, expected)
  t.match(answers, [{ ok: true }, { reason: 'replayed' }, { reason: 'attempts' }])
  t.same(await many.admitMany([]), [])
})
