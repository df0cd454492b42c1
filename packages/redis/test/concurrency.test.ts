import t from 'tap'
import type { SessionRecord } from '@ws-warden/core/stores'
import { Redis } from 'ioredis'
import {
  RedisHistoryStore,
  RedisRateLimitStore,
  RedisResumeStore,
  RedisSessionStore,
  RedisTokenStore,
} from '../src/index.js'
import { REDIS_URL, deleteKeys, randomPrefix, sharedRedis, until } from './helpers/redis.js'

const first = await sharedRedis(t)

if (first !== undefined) {
  // A second connection, as a second instance would have.
  const second = new Redis(REDIS_URL, { maxRetriesPerRequest: 0 })
  second.on('error', () => {})
  t.teardown(() => void second.disconnect())
  const prefix = randomPrefix()
  t.teardown(async () => void (await deleteKeys(first, prefix)))
  const both = <T>(make: (client: Redis) => T): [T, T] => [make(first), make(second)]
  /** Runs `n` calls spread over both stores, all at once. */
  const spread = <S, R>(stores: [S, S], n: number, call: (store: S, i: number) => Promise<R>) =>
    Promise.all(Array.from({ length: n }, (_, i) => call(stores[i % 2] as S, i)))

  t.test('50 concurrent consumes of one jti from two clients: exactly one wins', async (t) => {
    const tokens = both((client) => new RedisTokenStore({ client, prefix }))
    const expiresAt = Date.now() + 60_000
    for (let round = 0; round < 5; round++) {
      const results = await spread(tokens, 50, (store) => store.consume(`jti-${round}`, expiresAt))
      t.equal(results.filter(Boolean).length, 1, `round ${round}`)
    }
  })

  t.test('concurrent rate-limit hits from two clients never pass the limit', async (t) => {
    const limits = both((client) => new RedisRateLimitStore({ client, prefix }))
    for (const limit of [1, 7, 20]) {
      const results = await spread(limits, 60, (store) =>
        store.hit(`burst-${limit}`, limit, 60_000),
      )
      t.equal(results.filter((result) => result.allowed).length, limit, `limit ${limit}`)
      const remaining = results.filter((r) => r.allowed).map((r) => r.remaining)
      t.same(
        remaining.sort((x, y) => x - y),
        Array.from({ length: limit }, (_, i) => i),
        'each count seen once',
      )
    }
  })

  t.test('concurrent session adds from two clients never pass a cap', async (t) => {
    const sessions = both((client) => new RedisSessionStore({ client, prefix }))
    const record = (id: string, fields: Partial<SessionRecord> = {}): SessionRecord => ({
      id,
      userId: 'user',
      instanceId: 'instance',
      ip: '203.0.113.1',
      channels: ['lobby'],
      connectedAt: 1,
      lastSeenAt: 1,
      ...fields,
    })
    const perUser = await spread(sessions, 40, (store, i) =>
      store.add(record(`u-${i}`, { ip: `192.0.2.${i}` }), { perUser: 5 }),
    )
    t.equal(perUser.filter((result) => result.ok).length, 5, 'per user')
    const perIp = await spread(sessions, 40, (store, i) =>
      store.add(record(`ip-${i}`, { userId: `ip-user-${i}`, ip: '198.51.100.1' }), { perIp: 3 }),
    )
    t.equal(perIp.filter((result) => result.ok).length, 3, 'per IP')
    const total = await spread(sessions, 40, (store, i) =>
      store.add(record(`t-${i}`, { userId: `t-user-${i}`, ip: `192.0.2.${100 + i}` }), {
        total: 20,
      }),
    )
    t.equal(total.filter((result) => result.ok).length, 12, 'in total (8 were in)')
    const [a, b] = sessions
    t.same(await a.stats(), { connections: 20, users: 16, channels: { lobby: 20 } })
    t.equal(await b.count({ userId: 'user' }), 5)
    t.equal(await b.count({ ip: '198.51.100.1' }), 3)
  })
  t.test('concurrent appends from two clients: distinct seqs, increasing on each', async (t) => {
    const history = both((client) => new RedisHistoryStore({ client, prefix }))
    const limits = { maxLength: 1000, ttlMs: 60_000 }
    const seqs = await spread(history, 200, (store, i) =>
      store.append('room', `{"i":${i}}`, limits),
    )
    t.equal(new Set(seqs).size, 200, 'distinct')
    for (const parity of [0, 1]) {
      const mine = seqs.filter((_, i) => i % 2 === parity)
      t.ok(
        mine.every((seq, i) => i === 0 || seq > (mine[i - 1] as number)),
        `client ${parity}: each append above the one it sent before`,
      )
    }
    const sorted = [...seqs].sort((a, b) => a - b)
    const { entries, complete } = await history[1].read('room', 0)
    t.ok(complete)
    t.same(
      entries.map((entry) => entry.frame),
      sorted.map((seq) => `{"i":${seqs.indexOf(seq)}}`),
      'read back in seq order, each frame under its own seq',
    )
  })

  t.test('concurrent history sweeps from two clients count each entry once', async (t) => {
    const history = both((client) => new RedisHistoryStore({ client, prefix }))
    const limits = { maxLength: 1000, ttlMs: 1 }
    await spread(history, 300, (store, i) => store.append(`sweep-${i}`, '{}', limits))
    await until(
      async () => (await first.zcount(`{${prefix}:history}:expiry`, '-inf', Date.now() - 1)) >= 300,
      'the entries to expire',
    )
    const counts = await spread(history, 6, (store) => store.sweep(Date.now() + 60_000))
    t.equal(
      counts.reduce((sum, count) => sum + count, 0),
      300,
    )
  })

  t.test('concurrent claims from two clients: exactly one gets the session', async (t) => {
    const resumes = both((client) => new RedisResumeStore({ client, prefix }))
    for (let round = 0; round < 5; round++) {
      const session = {
        id: `claimed-${round}`,
        userId: 'user',
        credentialHash: 'the-right-hash',
        state: '{}',
        expiresAt: Date.now() + 60_000,
      }
      await resumes[round % 2]!.save(session)
      const results = await spread(resumes, 40, (store, i) =>
        store.claim(session.id, i % 4 === 3 ? 'a-wrong-hash' : session.credentialHash),
      )
      t.same(
        results.filter((result) => result !== null),
        [session],
        `round ${round}`,
      )
    }
  })

  t.test(
    'concurrent resume sweeps from two clients report each expired session once',
    async (t) => {
      const resumes = both((client) => new RedisResumeStore({ client, prefix }))
      const ids = Array.from({ length: 2500 }, (_, i) => `expired-${i}`)
      await spread(resumes, ids.length, (store, i) =>
        store.save({
          id: ids[i] as string,
          userId: `user-${i}`,
          credentialHash: 'h',
          state: '{}',
          expiresAt: Date.now() - 1,
        }),
      )
      const reports = await spread(resumes, 6, (store) => store.sweep(Date.now() + 60_000))
      const reported = reports.flat()
      t.equal(reported.length, ids.length, 'as many reports as sessions')
      t.same(new Set(reported.map((session) => session.id)), new Set(ids), 'each one')
      t.ok(
        reported.every((session) => session.userId === `user-${session.id.slice(8)}`),
        'with its user',
      )
    },
  )
}
