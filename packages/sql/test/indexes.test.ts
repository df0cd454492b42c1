import t from 'tap'
import type { SessionRecord } from '@ws-warden/core/stores'
import { createSqlStores, migrate, PostgresBroker, type PgPool } from '../src/index.js'
import { recording, type Statement } from './helpers/recording.js'
import { pgPool, randomName, reachable } from './helpers/servers.js'
import { eventually } from './helpers/timing.js'

// Every statement the stores run, explained on PostgreSQL with sequential scans disabled: a
// statement that still plans a Seq Scan has no index to use.
const pool = pgPool()
const schema = randomName('wsw_index_')
t.teardown(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {})
  await pool.end()
})

const now = Date.now()
const record = (id: string, fields: Partial<SessionRecord> = {}): SessionRecord => ({
  id,
  userId: 'u',
  instanceId: 'i',
  ip: '192.0.2.1',
  channels: ['room'],
  connectedAt: now,
  lastSeenAt: now,
  ...fields,
})

if (await reachable(t, 'PostgreSQL', () => pool.query('SELECT 1'))) {
  t.test('every statement uses an index', async (t) => {
    await migrate({ pool, schema })
    const log: Statement[] = []
    const past = createSqlStores({
      pool: recording(pool, log),
      schema,
      clock: { now: () => now - 60_000 },
    })
    const stores = createSqlStores({ pool: recording(pool, log), schema })
    const { sessions, tokens, rateLimits, locks, history, resumes } = stores

    await sessions.add(record('a'), { perUser: 5, perIp: 5, total: 5 })
    await sessions.add(record('b', { channels: [] }))
    await sessions.get('a')
    await sessions.listByUser('u')
    await sessions.listByChannel('room')
    await sessions.count({ userId: 'u', ip: '192.0.2.1', channel: 'room' })
    await sessions.stats()
    await sessions.join('b', 'room')
    await sessions.leave('b', 'room')
    await sessions.touch(['a', 'b'], now + 1)
    await sessions.sweep(now)
    await sessions.remove('a')
    await past.tokens.consume('j', now - 30_000)
    await tokens.consume('j', now + 60_000)
    await tokens.consume('j', now + 60_000)
    await tokens.sweep(now)
    for (let i = 0; i < 3; i++) await rateLimits.hit('k', 2, 60_000)
    await rateLimits.sweep(now)
    const release = await locks.acquire('l', 1000)
    await locks.acquire('l', 1000)
    await release?.()
    const limits = { maxLength: 2, ttlMs: 60_000 }
    for (let i = 0; i < 3; i++) await history.append('channel:room', '{}', limits, ['c'])
    await history.read('channel:room', 1)
    await history.head('channel:room')
    await history.head('channel:unknown')
    await history.sweep(now + 120_000)
    const later = createSqlStores({
      pool: recording(pool, log),
      schema,
      clock: { now: () => now + 3_600_000 },
      streamRetentionMs: 1,
    })
    await later.history.sweep(now + 3_600_000) // forgets the stream
    const resumed = { id: 'r', userId: 'u', credentialHash: 'h', state: '{}', expiresAt: now + 1 }
    await resumes.save(resumed)
    await resumes.update(resumed)
    await resumes.touch(['r', 'x'], now + 60_000)
    await resumes.claim('r', 'h')
    await resumes.save(resumed)
    await resumes.remove('r')
    await resumes.save({ ...resumed, expiresAt: now - 1 })
    await resumes.sweep(now)
    const broker = new PostgresBroker({ pool: recording(pool, log) as PgPool, schema })
    t.teardown(() => broker.close())
    const got: string[] = []
    const topic = randomName('index_')
    await broker.subscribe(topic, (payload) => void got.push(payload))
    await broker.publish(topic, 'x'.repeat(8000)) // stored, then fetched
    await eventually(async () => (got.length > 0 ? undefined : Promise.reject()))
    await broker.sweep(now)

    // A query without parameters may hold several statements (`…; COMMIT`): each is explained.
    const explained = log
      .flatMap(({ sql, values }) => sql.split('; ').map((part) => ({ sql: part, values })))
      .filter((s) => /^(SELECT|INSERT|UPDATE|DELETE|WITH)/.test(s.sql))
    const unique = new Map(explained.map((s) => [s.sql, s]))
    t.ok(unique.size >= 20, `${unique.size} distinct statements`)
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await client.query('SET LOCAL enable_seqscan = off')
      for (const { sql, values } of unique.values()) {
        let n = 0
        const text = `EXPLAIN ${sql.replace(/\?/g, () => `$${++n}`)}`
        const plan = (await client.query({ text, values })).rows
          .map((row) => row['QUERY PLAN'])
          .join('\n')
        t.notMatch(plan, /Seq Scan/, sql)
      }
    } finally {
      await client.query('ROLLBACK')
      client.release()
    }
  })
}
