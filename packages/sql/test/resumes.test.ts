import t from 'tap'
import type { ResumableSession } from '@ws-warden/core/stores'
import { SqlResumeStore, type SqlPool } from '../src/index.js'
import { eachDatabase } from './helpers/dialects.js'
import { crossedUpdates } from './helpers/locking.js'
import { recording, type Statement } from './helpers/recording.js'
import { pgPool } from './helpers/servers.js'

const now = Date.now()
let serial = 0

function session(fields: Partial<ResumableSession> = {}): ResumableSession {
  return {
    id: `session-${++serial}`,
    userId: 'user-1',
    credentialHash: 'LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ',
    state: '{"c":"conn-1","ch":["lobby"],"f":{"all":3}}',
    expiresAt: now + 600_000,
    ...fields,
  }
}

/** Alternates calls between two stores, each on its own pool (as two instances would). */
const across = <R>(
  stores: [SqlResumeStore, SqlResumeStore],
  n: number,
  call: (store: SqlResumeStore, i: number) => Promise<R>,
) => Promise.all(Array.from({ length: n }, (_, i) => call(stores[i % 2] as SqlResumeStore, i)))

eachDatabase(t, async (t, db) => {
  const tables = await db.fresh()
  const two = (options: Partial<ConstructorParameters<typeof SqlResumeStore>[0]> = {}) =>
    [
      new SqlResumeStore({ ...tables, pool: db.pool(), ...options }),
      new SqlResumeStore({ ...tables, pool: db.pool(), ...options }),
    ] as [SqlResumeStore, SqlResumeStore]

  t.test('20 concurrent claims across two pools: exactly one gets the session', async (t) => {
    const stores = two()
    for (let round = 0; round < 5; round++) {
      const saved = session()
      await stores[0].save(saved)
      // Wrong hashes race the right ones: they must neither win nor consume anything.
      const results = await across(stores, 20, (store, i) =>
        store.claim(saved.id, i % 4 === 3 ? 'a-wrong-hash' : saved.credentialHash),
      )
      const won = results.filter((result) => result !== null)
      t.equal(won.length, 1)
      t.same(won[0], saved)
    }
  })

  t.test('concurrent sweeps report each expired session exactly once', async (t) => {
    const own = await db.fresh()
    const stores = [1, 2, 3, 4].map(
      () => new SqlResumeStore({ ...own, pool: db.pool(), batchSize: 25 }),
    )
    const expired = Array.from({ length: 300 }, (_, i) =>
      session({ userId: `u${i}`, expiresAt: now - 1_000 - i }),
    )
    const live = Array.from({ length: 20 }, () => session({ expiresAt: now + 600_000 }))
    for (let i = 0; i < expired.length; i += 50) {
      await Promise.all(expired.slice(i, i + 50).map((s) => stores[0]?.save(s)))
    }
    for (const s of live) await stores[0]?.save(s)
    const reports = await Promise.all(stores.map((store) => store.sweep(now)))
    const ids = reports.flat().map((s) => s.id)
    t.equal(ids.length, 300, `${reports.map((r) => r.length).join(' + ')}`)
    t.same(new Set(ids), new Set(expired.map((s) => s.id)))
    const byId = new Map(reports.flat().map((s) => [s.id, s]))
    for (const s of expired) {
      t.same(byId.get(s.id), { id: s.id, userId: s.userId, expiresAt: s.expiresAt })
    }
    t.same(await stores[1]?.sweep(now + 3_600_000), [], 'never a live one')
    t.equal(
      (await stores[2]?.claim(live[0]?.id ?? '', live[0]?.credentialHash ?? ''))?.id,
      live[0]?.id,
    )
  })

  t.test('sweeps racing touches and claims: each expired session reported once', async (t) => {
    const own = await db.fresh()
    // One clock for all: session i expires at now - 100 + i, so 0..99 have expired.
    const options = {
      batchSize: 10,
      prefix: own.prefix,
      schema: own.schema,
      clock: { now: () => now },
    }
    const [a, b] = two(options)
    const [c] = two(options)
    const sessions = Array.from({ length: 120 }, (_, i) => session({ expiresAt: now - 100 + i }))
    for (const s of sessions) await a.save(s)
    // The even ones are touched back to life while two instances sweep; 101..119 are claimed.
    const touched = sessions.filter((_, i) => i % 2 === 0).map((s) => s.id)
    const [reportA, reportB, , claims] = await Promise.all([
      a.sweep(now),
      c.sweep(now),
      b.touch(touched, now + 600_000),
      Promise.all(sessions.slice(101).map((s) => b.claim(s.id, s.credentialHash))),
    ])
    const reported = [...reportA, ...reportB].map((s) => s.id)
    t.equal(new Set(reported).size, reported.length, 'no session reported twice')
    t.ok(
      reported.every((id) => sessions.findIndex((s) => s.id === id) < 100),
      'only expired ones',
    )
    t.same(
      claims.map((claim) => claim?.id),
      sessions.slice(101).map((s) => s.id),
      'every unexpired one is claimed',
    )
    // A sweep skips the rows others hold (a touch, the other sweep) and may end before them:
    // a later sweep reports what is left, and nothing twice.
    const late = (await a.sweep(now)).map((s) => s.id)
    const all = [...reported, ...late]
    t.equal(new Set(all).size, all.length, 'nor by a later sweep')
    for (const [i, s] of sessions.slice(0, 100).entries()) {
      const claimed = (await b.claim(s.id, s.credentialHash)) !== null
      if (i % 2 === 1) t.ok(all.includes(s.id) && !claimed, `${s.id} (not touched) is reported`)
      else t.ok(all.includes(s.id) !== claimed, `${s.id}: reported, or touched in time and alive`)
    }
    t.same(await a.sweep(now + 3_600_000), [], 'nothing expired was left behind')
  })

  t.test('two touches of overlapping ids never deadlock', async (t) => {
    const own = await db.fresh()
    // On PostgreSQL one caller's plans meet rows in index order, the other's in heap order.
    const plans = ['-c enable_seqscan=off -c enable_bitmapscan=off', '-c enable_indexscan=off']
    const [fewStore, allStore] = plans.map((options) => {
      const pool = db.name === 'postgres' ? pgPool({ options }) : db.pool()
      if (db.name === 'postgres') t.teardown(() => (pool as { end(): Promise<void> }).end())
      return new SqlResumeStore({ ...own, pool })
    }) as [SqlResumeStore, SqlResumeStore]
    const ids = Array.from({ length: 300 }, (_, i) => `touch-${String(299 - i).padStart(3, '0')}`)
    for (const id of ids) await allStore.save(session({ id }))
    const table =
      db.name === 'postgres' ? `"${own.schema}"."${own.prefix}resumes"` : `\`${own.prefix}resumes\``
    const settled = await crossedUpdates(
      db,
      table,
      ids,
      (few) => fewStore.touch(few, now + 1_000_001),
      (all) => allStore.touch(all, now + 1_000_002),
    )
    t.same(
      settled.map((result) => result.status),
      ['fulfilled', 'fulfilled'],
      settled.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ok')).join(),
    )
  })

  t.test('claims of ids and hashes no row can hold are null, without a statement', async (t) => {
    const log: Statement[] = []
    const store = new SqlResumeStore({ ...tables, pool: recording(tables.pool as SqlPool, log) })
    t.equal(await store.claim('', 'hash'), null)
    t.equal(await store.claim('x'.repeat(513), 'hash'), null)
    t.equal(await store.claim('id', 'a\0b'), null)
    t.equal(await store.claim(42 as never, 'hash'), null)
    t.equal(await store.claim('id', ''), null)
    t.equal(log.length, 0)
  })

  t.test('an expired session is not claimed, nor consumed: the sweep reports it', async (t) => {
    const store = new SqlResumeStore(tables)
    const old = session({ expiresAt: now - 10 })
    await store.save(old)
    t.equal(await store.claim(old.id, old.credentialHash), null)
    t.same(
      (await store.sweep(now)).filter((s) => s.id === old.id),
      [{ id: old.id, userId: old.userId, expiresAt: old.expiresAt }],
    )
  })

  t.test('states round-trip byte for byte; an unchanged update is still true', async (t) => {
    const store = new SqlResumeStore(tables)
    const saved = session({
      id: 'sess-ü👋',
      userId: 'usér-👋',
      state: JSON.stringify({ text: 'héllo 👋 \u2028', big: 'y'.repeat(100_000) }),
    })
    await store.save(saved)
    t.equal(await store.update(saved), true)
    t.equal(await store.update({ ...saved }), true, 'the same values again')
    t.same(await store.claim(saved.id, saved.credentialHash), saved)
    t.equal(await store.update(saved), false)
  })

  t.test('a sweep that fails after some batches reports those it removed', async (t) => {
    const own = await db.fresh()
    let selects = 0
    const failing = recording(own.pool as SqlPool, [], (sql) =>
      sql.startsWith('SELECT id, user_id') && ++selects === 2 ? 'fail' : 'run',
    )
    const store = new SqlResumeStore({ ...own, pool: failing, batchSize: 2 })
    for (let i = 0; i < 5; i++) await store.save(session({ expiresAt: now - 100 - i }))
    t.equal((await store.sweep(now)).length, 2, 'the first batch, then the failure')
    selects = 1
    await t.rejects(store.sweep(now), /refused by the test/, 'a first batch that fails rejects')
    t.equal((await store.sweep(now)).length, 3, 'the rest')
  })

  t.test('bad arguments are refused before any statement runs', async (t) => {
    const log: Statement[] = []
    const store = new SqlResumeStore({ ...tables, pool: recording(tables.pool as SqlPool, log) })
    const good = session()
    await t.rejects(store.save({ ...good, id: '' }), /resumes.save\(session.id\) must be/)
    await t.rejects(store.save(undefined as never), /resumes.save\(session.id\)/)
    await t.rejects(store.save({ ...good, userId: 'a\0' }), /resumes.save\(session.userId\)/)
    await t.rejects(
      store.update({ ...good, credentialHash: '' }),
      /resumes.update\(session.credentialHash\)/,
    )
    await t.rejects(
      store.save({ ...good, state: 'a\0b' }),
      /resumes.save\(session.state\) must be a string without NUL/,
    )
    await t.rejects(store.save({ ...good, state: 1 as never }), /session.state/)
    await t.rejects(
      store.save({ ...good, expiresAt: Number.NaN }),
      /resumes.save\(session.expiresAt\) must be a finite/,
    )
    await t.rejects(store.touch(['ok', ''], now), /resumes.touch\(ids\)/)
    await t.rejects(store.touch(['ok'], Number.POSITIVE_INFINITY), /resumes.touch\(expiresAt\)/)
    await t.rejects(store.remove(''), /resumes.remove\(id\)/)
    await t.rejects(store.sweep(Number.NaN), /resumes.sweep\(before\)/)
    t.equal(log.length, 0)
    t.throws(() => new SqlResumeStore({}), /SqlResumeStore needs exactly one of the options/)
  })

  t.test('touch goes in batches of batchSize', async (t) => {
    const log: Statement[] = []
    const store = new SqlResumeStore({
      ...tables,
      pool: recording(tables.pool as SqlPool, log),
      batchSize: 2,
    })
    await store.touch([], now)
    t.equal(log.length, 0, 'no ids, no statement')
    await store.touch(['a', 'b', 'c', 'd', 'e'], now)
    t.equal(log.filter((s) => s.sql.startsWith('UPDATE')).length, 3)
  })
})
