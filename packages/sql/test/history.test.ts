import t from 'tap'
import type { HistoryLimits } from '@ws-warden/core/stores'
import { createSqlStores, SqlHistoryStore, type SqlPool } from '../src/index.js'
import { eachDatabase, type Target } from './helpers/dialects.js'
import { recording, type Intercept, type Statement } from './helpers/recording.js'

const roomy: HistoryLimits = { maxLength: 10_000, ttlMs: 600_000 }

/** The rows an administrator's query returned, from either driver. */
async function rowsOf(db: Target, sql: string, params: unknown[] = []) {
  const result = (await db.admin(sql, params)) as
    { rows: Record<string, unknown>[] } | [Record<string, unknown>[]]
  return Array.isArray(result) ? result[0] : result.rows
}

/** A clock the test moves. */
const clockAt = (start: number) => {
  const clock = { at: start, now: () => clock.at }
  return clock
}

eachDatabase(t, async (t, db) => {
  const tables = await db.fresh()
  const table = (name: string, own = tables) =>
    db.name === 'postgres' ? `"${own.schema}"."${own.prefix}${name}"` : `\`${own.prefix}${name}\``
  const p = (n: number) => (db.name === 'postgres' ? `$${n}` : '?')

  t.test('concurrent appends from two pools: distinct, increasing, never a gap seen', async (t) => {
    const own = await db.fresh()
    const stores = [db.pool(), db.pool()].map((pool) => new SqlHistoryStore({ ...own, pool }))
    const reader = new SqlHistoryStore({ ...own, pool: db.pool() })
    const stream = 'channel:race'
    // Each writer appends in sequence; eight writers per pool run at once. The stream is new, so
    // the first appends also race to create its row.
    const perWriter = 12
    let writing = 16
    const writers = Array.from({ length: 16 }, async (_, w) => {
      const store = stores[w % 2] as SqlHistoryStore
      const seqs: number[] = []
      for (let i = 0; i < perWriter; i++) {
        seqs.push(await store.append(stream, JSON.stringify({ w, i }), roomy))
      }
      writing--
      return seqs
    })
    const snapshots: number[][] = []
    const reading = (async () => {
      for (let i = 0; i < 2_000 && writing > 0; i++) {
        const read = await reader.read(stream, 0)
        t.equal(read.complete, true)
        snapshots.push(read.entries.map((entry) => entry.seq))
      }
    })()
    const [all] = await Promise.all([Promise.all(writers), reading])
    for (const seqs of all) {
      t.ok(
        seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] as number)),
        'increasing per writer',
      )
    }
    const final = all.flat().sort((a, b) => a - b)
    t.equal(new Set(final).size, 16 * perWriter, 'distinct')
    t.same(
      final,
      Array.from({ length: final.length }, (_, i) => i + 1),
      'consecutive, from 1',
    )
    t.same(
      (await reader.read(stream, 0)).entries.map((entry) => entry.seq),
      final,
    )
    t.ok(snapshots.length > 0)
    for (const seen of snapshots) {
      t.same(seen, final.slice(0, seen.length), 'every read is a prefix: no seq filled in later')
    }
  })

  t.test('an entry expired in the middle makes a read from before it incomplete', async (t) => {
    const clock = clockAt(1_000_000)
    const history = new SqlHistoryStore({ ...tables, clock })
    const stream = 'channel:middle'
    const a = await history.append(stream, '{"n":1}', { maxLength: 10, ttlMs: 60_000 })
    const b = await history.append(stream, '{"n":2}', { maxLength: 10, ttlMs: 10 })
    const c = await history.append(stream, '{"n":3}', { maxLength: 10, ttlMs: 60_000 })
    clock.at += 1_000
    t.same(await history.read(stream, 0), {
      entries: [
        { seq: a, frame: '{"n":1}' },
        { seq: c, frame: '{"n":3}' },
      ],
      complete: false,
    })
    t.same(await history.read(stream, a), {
      entries: [{ seq: c, frame: '{"n":3}' }],
      complete: false,
    })
    t.same(await history.read(stream, b), {
      entries: [{ seq: c, frame: '{"n":3}' }],
      complete: true,
    })
    t.equal(await history.sweep(clock.at), 1, 'the expired one is swept')
    t.equal((await history.read(stream, a)).complete, false, 'and stays missing')
    t.same(await history.read(stream, c + 5), { entries: [], complete: true }, 'past the head')
  })

  t.test('frames and except lists round-trip byte for byte', async (t) => {
    const history = new SqlHistoryStore(tables)
    const frame = JSON.stringify({
      text: 'héllo 👋 \u2028 "quoted" \\ back',
      big: 'x'.repeat(70_000),
    })
    const except = ['conn-ü', 'session-👋', '']
    const seq = await history.append('user:ü👋', frame, roomy, except)
    t.same((await history.read('user:ü👋', 0)).entries, [{ seq, frame, except }])
    t.equal(await history.head('user:ü👋'), seq)
  })

  t.test('an append to a known stream is one statement on PostgreSQL', async (t) => {
    const log: Statement[] = []
    const history = new SqlHistoryStore({ ...tables, pool: recording(tables.pool as SqlPool, log) })
    await history.append('channel:one', '{}', roomy)
    log.length = 0
    await history.append('channel:one', '{}', roomy)
    t.equal(log.length, db.name === 'postgres' ? 1 : 6, log.map((s) => s.sql).join('\n'))
  })

  t.test('streams idle past streamRetentionMs are forgotten; seqs never go back', async (t) => {
    const own = await db.fresh()
    const clock = clockAt(5_000_000)
    const history = new SqlHistoryStore({ ...own, clock, streamRetentionMs: 1_000 })
    const limits = { maxLength: 100, ttlMs: 100 }
    for (let i = 0; i < 3; i++) await history.append('channel:quiet', '{}', limits)
    await history.append('channel:busy', '{}', limits)
    clock.at += 500 // both expired, neither idle for long
    t.equal(await history.sweep(clock.at), 4)
    t.equal(await history.head('channel:quiet'), 3, 'still known')
    t.equal(await history.append('channel:busy', '{}', limits), 2)
    clock.at += 1_000 // quiet: idle for 1,400 ms; busy: 900 ms
    t.equal(await history.sweep(clock.at), 1)
    const streams = await rowsOf(db, `SELECT stream FROM ${table('streams', own)}`)
    t.same(
      streams.map((row) => String(row.stream)),
      ['channel:busy'],
      'quiet is forgotten',
    )
    t.equal(await history.head('channel:quiet'), 3, 'an unknown stream: the floor')
    t.equal(await history.head('channel:never'), 3)
    t.same(await history.read('channel:quiet', 0), { entries: [], complete: false })
    t.same(await history.read('channel:quiet', 3), { entries: [], complete: true })
    const again = await history.append('channel:quiet', '{"back":true}', limits)
    t.equal(again, 4, 'above everything the stream had')
    t.same(await history.read('channel:quiet', 3), {
      entries: [{ seq: 4, frame: '{"back":true}' }],
      complete: true,
    })
    t.equal((await history.read('channel:quiet', 1)).complete, false)
    t.equal(await history.append('channel:new', '{}', limits), 4, 'new streams start above it too')
  })

  t.test('forgetting races appends: seqs of a stream still only go up', async (t) => {
    const own = await db.fresh()
    // The sweepers see a clock a day ahead: every entry expired, every stream idle.
    const sweepers = [db.pool(), db.pool()].map(
      (pool) =>
        new SqlHistoryStore({
          ...own,
          pool,
          batchSize: 2,
          streamRetentionMs: 1,
          clock: { now: () => Date.now() + 86_400_000 },
        }),
    )
    const writers = [db.pool(), db.pool()].map((pool) => new SqlHistoryStore({ ...own, pool }))
    const limits = { maxLength: 3, ttlMs: 1 }
    let writing = 8
    const appends = Array.from({ length: 8 }, async (_, w) => {
      const store = writers[w % 2] as SqlHistoryStore
      const stream = `channel:${w % 3}`
      const seqs: number[] = []
      for (let i = 0; i < 25; i++) seqs.push(await store.append(stream, '{}', limits))
      writing--
      return { stream, seqs }
    })
    const sweeping = sweepers.map(async (store) => {
      for (let i = 0; i < 500 && writing > 0; i++) await store.sweep(Date.now() + 86_400_000)
    })
    const [results] = await Promise.all([Promise.all(appends), Promise.all(sweeping)])
    const byStream = new Map<string, number[]>()
    for (const { stream, seqs } of results) {
      t.ok(
        seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] as number)),
        `increasing: ${seqs.join(', ')}`,
      )
      byStream.set(stream, [...(byStream.get(stream) ?? []), ...seqs])
    }
    for (const [stream, seqs] of byStream) {
      t.equal(new Set(seqs).size, seqs.length, `${stream}: never handed out twice`)
      const head = await (writers[0] as SqlHistoryStore).head(stream)
      t.ok(head >= Math.max(...seqs), `${stream}: head ${head}`)
    }
  })

  t.test('entries left from a forgotten record are neither read nor counted', async (t) => {
    const own = await db.fresh()
    const history = new SqlHistoryStore(own)
    // As a sweeper whose clock runs far ahead could leave them: rows of a forgotten stream, below
    // the floor it raised, that this instance's clock does not see as expired.
    await db.admin(`UPDATE ${table('counters', own)} SET value = 10 WHERE name = 'history'`)
    await db.admin(
      `INSERT INTO ${table('history', own)} (stream, seq, frame, expires_at) VALUES ` +
        `('channel:old', 9, '{"old":9}', ${p(1)}), ('channel:old', 10, '{"old":10}', ${p(2)})`,
      [Date.now() + 600_000, Date.now() + 600_000],
    )
    t.equal(await history.head('channel:old'), 10)
    t.same(await history.read('channel:old', 9), { entries: [], complete: false })
    t.same(await history.read('channel:old', 10), { entries: [], complete: true })
    t.equal(await history.append('channel:old', '{"new":11}', roomy), 11)
    t.same(await history.read('channel:old', 0), {
      entries: [{ seq: 11, frame: '{"new":11}' }],
      complete: false,
    })
    t.same(await history.read('channel:old', 10), {
      entries: [{ seq: 11, frame: '{"new":11}' }],
      complete: true,
    })
  })

  t.test('a floor row deleted by hand is made again', async (t) => {
    const own = await db.fresh()
    const history = new SqlHistoryStore(own)
    await db.admin(`DELETE FROM ${table('counters', own)} WHERE name = 'history'`)
    t.equal(await history.head('channel:x'), 0)
    t.same(await history.read('channel:x', 0), { entries: [], complete: true })
    t.equal(await history.append('channel:x', '{}', roomy), 1)
    t.same(await rowsOf(db, `SELECT value FROM ${table('counters', own)} WHERE name = 'history'`), [
      { value: db.name === 'postgres' ? '0' : 0 },
    ])
    await db.admin(`DELETE FROM ${table('counters', own)} WHERE name = 'history'`)
    t.equal(await history.sweep(Date.now()), 0, 'a sweep makes it again as well')
    t.equal(
      (await rowsOf(db, `SELECT value FROM ${table('counters', own)} WHERE name = 'history'`))
        .length,
      1,
    )
  })

  t.test('an append that meets a deadlock is tried again, three times in all', async (t) => {
    const log: Statement[] = []
    let deadlocks = 1
    const intercept: Intercept = (sql) =>
      /FOR SHARE|LOCK IN SHARE MODE/.test(sql) && deadlocks-- > 0 ? 'deadlock' : 'run'
    const pool = recording(tables.pool as SqlPool, log, intercept)
    const history = new SqlHistoryStore({ ...tables, pool })
    t.equal(await history.append('channel:deadlock', '{}', roomy), 1, 'the second try worked')
    deadlocks = 3
    await t.rejects(history.append('channel:deadlock-2', '{}', roomy), { code: /40P01|DEADLOCK/ })
    deadlocks = 2
    t.equal(await history.append('channel:deadlock-2', '{}', roomy), 1, 'nothing stayed of them')
    const refused = recording(tables.pool as SqlPool, [], (sql) =>
      /FOR SHARE|LOCK IN SHARE MODE/.test(sql) ? 'fail' : 'run',
    )
    await t.rejects(
      new SqlHistoryStore({ ...tables, pool: refused }).append('channel:other', '{}', roomy),
      /refused by the test/,
      'other errors are not retried',
    )
  })

  if (db.name === 'postgres') {
    t.test('an append to a stream with a row that meets a deadlock is tried again', async (t) => {
      const log: Statement[] = []
      let deadlocks = 0
      // The one-statement append of a stream that has its row.
      const intercept: Intercept = (sql) =>
        /^WITH s AS \(UPDATE/.test(sql) && deadlocks-- > 0 ? 'deadlock' : 'run'
      const history = new SqlHistoryStore({
        ...tables,
        pool: recording(tables.pool, log, intercept),
      })
      t.equal(await history.append('channel:deadlock-one', '{}', roomy), 1)
      deadlocks = 2
      t.equal(await history.append('channel:deadlock-one', '{}', roomy), 2, 'the third try')
      t.equal(log.filter(({ sql }) => /^WITH s AS \(UPDATE/.test(sql)).length, 4)
      deadlocks = 3
      await t.rejects(history.append('channel:deadlock-one', '{}', roomy), { code: '40P01' })
      t.equal(await history.head('channel:deadlock-one'), 2, 'nothing stayed of it')
    })
  }

  t.test(
    'a forgetting batch that meets a deadlock is tried again, three times in all',
    async (t) => {
      const own = await db.fresh()
      let deadlocks = 0
      // The floor's raise is the batch's last statement: a failed try has deleted its rows.
      const intercept: Intercept = (sql) =>
        /SET value = GREATEST/.test(sql) && deadlocks-- > 0 ? 'deadlock' : 'run'
      const pool = recording(own.pool as SqlPool, [], intercept)
      const clock = clockAt(7_000_000)
      const history = new SqlHistoryStore({ ...own, pool, clock, streamRetentionMs: 1 })
      const limits = { maxLength: 10, ttlMs: 1 }
      for (let i = 0; i < 3; i++) await history.append('channel:a', '{}', limits)
      await history.append('channel:b', '{}', limits)
      clock.at += 10
      deadlocks = 3
      await t.rejects(history.sweep(clock.at), { code: /40P01|DEADLOCK/ })
      const streams = await rowsOf(db, `SELECT stream FROM ${table('streams', own)}`)
      const names = streams.map((row) => String(row.stream)).sort()
      t.same(names, ['channel:a', 'channel:b'], 'nothing stayed of them')
      deadlocks = 2
      // The expired entries went in the call that failed: the sweep's own batches commit each.
      t.equal(await history.sweep(clock.at), 0, 'the third try worked')
      t.same(await rowsOf(db, `SELECT stream FROM ${table('streams', own)}`), [])
      t.equal(await history.head('channel:b'), 3, 'the floor is raised once all is forgotten')
      t.equal(await history.append('channel:a', '{}', limits), 4)
    },
  )

  t.test('sweep: thousands of expired entries go in batches; live ones stay', async (t) => {
    const own = await db.fresh()
    const log: Statement[] = []
    const pool = recording(own.pool as SqlPool, log)
    const history = new SqlHistoryStore({ ...own, pool, batchSize: 1000 })
    const now = Date.now()
    const rows = Array.from({ length: 3456 }, (_, i) => [
      `channel:${i % 7}`,
      Math.floor(i / 7) + 1,
      '{}',
      now - 1000 - i,
    ])
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500)
      let n = 0
      const tuples = chunk.map(() => `(${p(++n)}, ${p(++n)}, ${p(++n)}, ${p(++n)})`)
      await db.admin(
        `INSERT INTO ${table('history', own)} (stream, seq, frame, expires_at) VALUES ${tuples.join(', ')}`,
        chunk.flat(),
      )
    }
    const streams = Array.from({ length: 7 }, (_, i) => [`channel:${i}`, 494, now + 10_000])
    await db.admin(
      `INSERT INTO ${table('streams', own)} (stream, base_seq, last_seq, expires_at) VALUES ${streams
        .map((_, i) => `(${p(i * 3 + 1)}, 0, ${p(i * 3 + 2)}, ${p(i * 3 + 3)})`)
        .join(', ')}`,
      streams.flat(),
    )
    const live = await history.append('channel:0', '{"live":true}', roomy)
    t.equal(live, 495)
    log.length = 0
    t.equal(await history.sweep(now + 3_600_000), 3456)
    const deletes = log.filter((s) => s.sql.startsWith(`DELETE FROM ${table('history', own)}`))
    t.equal(deletes.length, 4, 'three full batches of 1000 and a short one')
    t.same(await history.read('channel:0', 0), {
      entries: [{ seq: 495, frame: '{"live":true}' }],
      complete: false,
    })
    t.same(await history.read('channel:0', 494), {
      entries: [{ seq: 495, frame: '{"live":true}' }],
      complete: true,
    })
  })

  t.test('forgetting goes in batches too', async (t) => {
    const own = await db.fresh()
    const clock = clockAt(9_000_000)
    const history = new SqlHistoryStore({ ...own, clock, batchSize: 2, streamRetentionMs: 1 })
    for (let i = 0; i < 5; i++) {
      for (let n = 0; n <= i; n++)
        await history.append(`user:${i}`, '{}', { maxLength: 1, ttlMs: 1 })
    }
    clock.at += 10
    t.equal(await history.sweep(clock.at), 5, 'one entry left of each')
    t.same(await rowsOf(db, `SELECT stream FROM ${table('streams', own)}`), [])
    t.equal(await history.head('user:0'), 5, 'the floor is the highest seq forgotten')
    t.equal(await history.append('user:0', '{}', roomy), 6)
  })

  t.test('bad arguments are refused before any statement runs', async (t) => {
    const log: Statement[] = []
    const history = new SqlHistoryStore({ ...tables, pool: recording(tables.pool as SqlPool, log) })
    await t.rejects(history.append('', '{}', roomy), /history.append\(stream\) must be a non-empty/)
    await t.rejects(history.append('s', 'a\0b', roomy), /history.append\(frame\) must be a string/)
    await t.rejects(history.append('s', 1 as never, roomy), /history.append\(frame\)/)
    await t.rejects(
      history.append('s', '{}', { maxLength: 0, ttlMs: 1 }),
      /limits.maxLength\) must be a positive integer/,
    )
    await t.rejects(history.append('s', '{}', undefined as never), /limits.maxLength/)
    await t.rejects(history.append('s', '{}', { maxLength: 1, ttlMs: 1.5 }), /limits.ttlMs/)
    await t.rejects(history.append('s', '{}', roomy, 'x' as never), /except\) must be an array/)
    await t.rejects(history.append('s', '{}', roomy, [1] as never), /except\) must be an array/)
    await t.rejects(history.read('', 0), /history.read\(stream\)/)
    await t.rejects(history.read('s', -1), /history.read\(afterSeq\) must be a non-negative/)
    await t.rejects(history.read('s', 1.5), /afterSeq/)
    await t.rejects(history.read('s', '1' as never), /afterSeq/)
    await t.rejects(history.head(''), /history.head\(stream\)/)
    await t.rejects(history.sweep(Number.NaN), /history.sweep\(before\)/)
    t.equal(log.length, 0)
    t.throws(
      () => new SqlHistoryStore({ ...tables, streamRetentionMs: 0 }),
      /SqlHistoryStore option streamRetentionMs must be a positive integer/,
    )
    t.throws(() => createSqlStores({ ...tables, streamRetentionMs: -1 }), /streamRetentionMs/)
  })
})
