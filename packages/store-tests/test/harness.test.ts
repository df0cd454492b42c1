import t from 'tap'
import {
  MemoryResumeStore,
  MemorySessionStore,
  MemoryTokenStore,
  type Broker,
  type HistoryEntry,
  type HistoryStore,
  type RateLimitStore,
  type SessionRecord,
  type TokenStore,
} from '@ws-warden/core/stores'
import { storeConformance, type ConformanceOptions, type ConformanceStores } from '../src/index.js'

/** Registers tests into a map instead of a runner, so they can be run (and fail) on demand. */
function collect(createStores: ConformanceOptions['createStores'], deliveryTimeoutMs?: number) {
  const tests = new Map<string, () => Promise<void>>()
  const options: ConformanceOptions = {
    register: (name, fn) => void tests.set(name, fn),
    createStores,
    deliveryTimeoutMs,
  }
  return { tests, options, run: (name: string) => (tests.get(name) as () => Promise<void>)() }
}

t.test('options are validated', async (t) => {
  const createStores = async () => ({ tokens: new MemoryTokenStore() })
  await t.rejects(storeConformance({} as ConformanceOptions), {
    name: 'TypeError',
    message: /needs register and createStores/,
  })
  await t.rejects(storeConformance({ register: () => {}, createStores: 'x' as never }), TypeError)
  for (const deliveryTimeoutMs of [0, 1.5, -1]) {
    await t.rejects(storeConformance({ register: () => {}, createStores, deliveryTimeoutMs }), {
      name: 'TypeError',
      message: /deliveryTimeoutMs must be a positive integer/,
    })
  }
})

t.test('a factory with no store, or one that fails, fails the suite', async (t) => {
  const none = collect(async () => ({}))
  await t.rejects(storeConformance(none.options), /createStores returned no store/)
  const down = collect(async () => {
    throw new Error('ECONNREFUSED 127.0.0.1:6379')
  })
  await t.rejects(storeConformance(down.options), /ECONNREFUSED/)
  t.equal(none.tests.size + down.tests.size, 0, 'nothing registered')
})

t.test('only the groups of the stores returned are registered', async (t) => {
  const { tests, options } = collect(async () => ({ tokens: new MemoryTokenStore() }))
  t.same(await storeConformance(options), ['tokens'])
  t.ok(tests.size >= 5)
  for (const name of tests.keys()) t.match(name, /^tokens: /)
})

t.test('every test gets fresh stores and cleans them up, pass or fail', async (t) => {
  let created = 0
  let cleaned = 0
  const { tests, options, run } = collect(async () => {
    created += 1
    return {
      tokens: { consume: async () => true, sweep: async () => 0 },
      cleanup: async () => void (cleaned += 1),
    }
  })
  await storeConformance(options)
  t.same([created, cleaned], [1, 1], 'the probe is cleaned up too')
  await t.rejects(run('tokens: consume is true the first time, false after'), {
    name: 'AssertionError',
  })
  t.same([created, cleaned], [2, 2])
  t.ok(tests.size > 1)
})

t.test('a factory that stops returning a store fails the test clearly', async (t) => {
  let calls = 0
  const { options, run } = collect(async () =>
    calls++ === 0 ? { tokens: new MemoryTokenStore() } : {},
  )
  await storeConformance(options)
  await t.rejects(run('tokens: consume is true the first time, false after'), {
    message: /createStores returned no tokens store this time, but did at first/,
  })
})

/** Runs every test of a suite registered for `stores`; returns the names of those that failed. */
async function failures(
  stores: () => ConformanceStores,
  deliveryTimeoutMs?: number,
): Promise<string[]> {
  const { tests, options } = collect(async () => stores(), deliveryTimeoutMs)
  await storeConformance(options)
  const failed: string[] = []
  for (const [name, fn] of tests) await fn().catch(() => failed.push(name))
  return failed
}

t.test('the suite catches broken stores', async (t) => {
  const replayable: TokenStore = { consume: async () => true, sweep: async () => 0 }
  const replays = await failures(() => ({ tokens: replayable }))
  t.ok(replays.includes('tokens: consume is true the first time, false after'))
  t.ok(replays.includes('tokens: 50 concurrent consumes of one jti: exactly one is true'))

  const lenient: RateLimitStore = {
    hit: async () => ({ allowed: true, remaining: 1, retryAfterMs: 0 }),
    sweep: async () => 0,
  }
  const unlimited = await failures(() => ({ rateLimits: lenient }))
  t.ok(
    unlimited.includes('rateLimits: exactly `limit` hits are allowed, counting down, then refused'),
  )
  t.ok(unlimited.includes('rateLimits: 50 concurrent hits with limit 20: exactly 20 allowed'))

  class CaplessSessions extends MemorySessionStore {
    override add(record: SessionRecord) {
      return super.add(record)
    }
  }
  t.same(
    await failures(() => ({ sessions: new CaplessSessions() })),
    [
      'sessions: caps per user, per IP and in total refuse the add and insert nothing',
      'sessions: a refused replacement leaves the existing record as it was',
      'sessions: 20 concurrent adds never pass a cap',
    ],
    'a session store that ignores caps',
  )

  // A history store that numbers each stream from 1 again once it is empty, and a resume store
  // whose claims are not single use.
  const streams = new Map<string, { seq: number; entries: HistoryEntry[] }>()
  const forgetful: HistoryStore = {
    append: async (stream, frame) => {
      const log = streams.get(stream) ?? { seq: 0, entries: [] }
      streams.set(stream, log)
      log.seq += 1
      log.entries.push({ seq: log.seq, frame })
      return log.seq
    },
    read: async (stream, afterSeq) => ({
      entries: (streams.get(stream)?.entries ?? []).filter((entry) => entry.seq > afterSeq),
      complete: true,
    }),
    head: async (stream) => streams.get(stream)?.seq ?? 0,
    sweep: async () => 0,
  }
  const history = await failures(() => ({ history: forgetful }))
  t.ok(
    history.includes('history: maxLength drops the oldest; reading from before them is incomplete'),
  )
  t.ok(history.includes('history: entries expire after ttlMs; seqs still never go back'))

  // A claim that checks the hash but never takes the session: usable again and again.
  class ReusableClaims extends MemoryResumeStore {
    override async claim(id: string, hash: string) {
      const session = await super.claim(id, hash)
      if (session) await this.save(session)
      return session
    }
  }
  const resumes = await failures(() => ({ resumes: new ReusableClaims() }))
  t.ok(resumes.includes('resumes: claim with the right hash returns the session once'))
  t.ok(
    resumes.includes('resumes: update replaces a session still there, never one that was claimed'),
  )

  const deaf: Broker = { publish: async () => {}, subscribe: async () => async () => {} }
  // Each delivery check gives up after deliveryTimeoutMs (without it this would never settle).
  t.equal((await failures(() => ({ broker: deaf }), 50)).length, 4, 'a broker that never delivers')
})
