import t from 'tap'
import type { SessionRecord } from '@ws-warden/core/stores'
import {
  SqlRateLimitStore,
  SqlSessionStore,
  SqlTokenStore,
  type PgPool,
  type SqlPool,
} from '../src/index.js'
import { holdLock, lockKey } from './helpers/cap-locks.js'
import { eachDatabase } from './helpers/dialects.js'
import { crossedUpdates, untilWaiting } from './helpers/locking.js'
import { pgPool } from './helpers/servers.js'

const now = Date.now()

function session(id: string, fields: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    userId: 'u',
    instanceId: 'i',
    ip: '192.0.2.1',
    channels: [],
    connectedAt: now,
    lastSeenAt: now,
    ...fields,
  }
}

/** Alternates calls between two stores, each on its own pool (as two instances would). */
const across = <S, R>(stores: [S, S], n: number, call: (store: S, i: number) => Promise<R>) =>
  Promise.all(Array.from({ length: n }, (_, i) => call(stores[i % 2] as S, i)))

eachDatabase(t, async (t, db) => {
  const tables = await db.fresh()
  const pools = [db.pool(), db.pool()] as const
  const two = <S>(make: (options: typeof tables) => S): [S, S] => [
    make({ ...tables, pool: pools[0] }),
    make({ ...tables, pool: pools[1] }),
  ]

  t.test('50 parallel consumes of one jti across two pools: exactly one true', async (t) => {
    const tokens = two((o) => new SqlTokenStore(o))
    const results = await across(tokens, 50, (store) => store.consume('jti-shared', now + 60_000))
    t.equal(results.filter(Boolean).length, 1)
  })

  t.test('the same for a jti whose old record has expired', async (t) => {
    // A clock in the past writes a record that is already expired for the real clock.
    const past = new SqlTokenStore({
      ...tables,
      pool: db.pool(),
      clock: { now: () => now - 120_000 },
    })
    t.equal(await past.consume('jti-reused', now - 60_000), true)
    const tokens = two((o) => new SqlTokenStore(o))
    const results = await across(tokens, 50, (store) => store.consume('jti-reused', now + 60_000))
    t.equal(results.filter(Boolean).length, 1)
  })

  t.test('parallel rate-limit hits never pass the limit', async (t) => {
    const limits = two((o) => new SqlRateLimitStore(o))
    const results = await across(limits, 80, (store) => store.hit('burst', 25, 60_000))
    const allowed = results.filter((r) => r.allowed)
    t.equal(allowed.length, 25)
    t.same(
      allowed.map((r) => r.remaining).sort((a, b) => a - b),
      Array.from({ length: 25 }, (_, i) => i),
    )
    t.ok(
      results
        .filter((r) => !r.allowed)
        .every((r) => r.retryAfterMs > 0 && r.retryAfterMs <= 60_000),
    )
  })

  t.test('parallel session adds never pass a cap', async (t) => {
    const sessions = two((o) => new SqlSessionStore(o))
    const caps = { perUser: 4, perIp: 6, total: 15 }
    // 3 users x 3 IPs: every cap is contended at once.
    const results = await across(sessions, 60, (store, i) =>
      store.add(session(`s${i}`, { userId: `user-${i % 3}`, ip: `198.51.100.${i % 5}` }), caps),
    )
    const [store] = sessions
    const total = await store.count()
    t.equal(results.filter((r) => r.ok).length, total)
    t.ok(total <= 15, `total ${total}`)
    for (let u = 0; u < 3; u++) t.ok((await store.count({ userId: `user-${u}` })) <= 4)
    for (let ip = 0; ip < 5; ip++) t.ok((await store.count({ ip: `198.51.100.${ip}` })) <= 6)
    // 3 users x 4 = 12 connections fit every cap, and so many are admitted.
    t.equal(total, 12)
  })

  t.test('parallel replacements of one id keep one record and count it once', async (t) => {
    const sessions = two((o) => new SqlSessionStore(o))
    const results = await across(sessions, 20, (store, i) =>
      store.add(session('same', { channels: [`c${i}`] }), { perUser: 1, total: 1000 }),
    )
    t.ok(results.every((r) => r.ok))
    t.equal(await sessions[0].count({ userId: 'u' }), 1)
    t.equal((await sessions[0].get('same'))?.channels.length, 1)
  })

  t.test('the total cap stays exact after removals, and without its counter row', async (t) => {
    const own = await db.fresh()
    const sessions = new SqlSessionStore({ ...own, pool: pools[0] })
    const add = (id: string) => sessions.add(session(id, { userId: id }), { total: 3 })
    for (const id of ['a', 'b', 'c']) t.same(await add(id), { ok: true })
    t.same(await add('d'), { ok: false, limit: 'total' })
    await sessions.remove('a')
    await sessions.sweep(now + 1) // b and c
    t.same(await add('e'), { ok: true }, 'room again: the bound was recounted')
    t.same(await add('f'), { ok: true })
    t.same(await add('g'), { ok: true })
    t.same(await add('h'), { ok: false, limit: 'total' })
    const counters =
      db.name === 'postgres'
        ? `"${own.schema}"."${own.prefix}counters"`
        : `\`${own.prefix}counters\``
    await db.admin(`DELETE FROM ${counters}`)
    t.same(await add('h'), { ok: false, limit: 'total' }, 'a lost counter row is rebuilt')
    await sessions.remove('e')
    t.same(await add('h'), { ok: true })
    t.equal(await sessions.count(), 3)
  })

  t.test('adds racing removals across two pools never pass the total', async (t) => {
    const own = await db.fresh()
    const sessions = two(
      (o) => new SqlSessionStore({ ...o, schema: own.schema, prefix: own.prefix }),
    )
    const results = await across(sessions, 60, async (store, i) => {
      const result = await store.add(session(`r${i}`, { userId: `r${i}` }), { total: 10 })
      if (result.ok && i % 3 === 0) await store.remove(`r${i}`)
      const count = await store.count()
      t.ok(count <= 10, `never more than 10 (${count})`)
      return result
    })
    t.ok(results.filter((r) => r.ok).length >= 10)
    t.ok((await sessions[0].count()) <= 10)
  })

  t.test('an add waits for a cap lock held elsewhere, and fails after timeoutMs', async (t) => {
    const pool = db.pool()
    // The server gives up the lock wait after half of timeoutMs, the client the statement after
    // all of it: the margin is wide, so that a loaded machine still sees the server's answer.
    const sessions = new SqlSessionStore({ ...tables, pool: pools[0], timeoutMs: 4000 })
    const key = lockKey(db, tables, 'user:blocked')
    const holder = await holdLock(pool, key)
    try {
      const outcome = await sessions
        .add(session('blocked', { userId: 'blocked' }), { perUser: 1 })
        .catch((e: Error) => e)
      t.type(outcome, Error)
      t.match(String(outcome), db.name === 'postgres' ? /lock timeout/ : /lock wait exceeded 2 s/)
    } finally {
      await holder()
    }
    t.same(await sessions.add(session('blocked', { userId: 'blocked' }), { perUser: 1 }), {
      ok: true,
    })
  })

  t.test('two touches of overlapping ids never deadlock', async (t) => {
    const own = await db.fresh()
    // On PostgreSQL one caller's plans meet rows in index order, the other's in heap order.
    const plans = ['-c enable_seqscan=off -c enable_bitmapscan=off', '-c enable_indexscan=off']
    const [fewStore, allStore] = plans.map((options) => {
      const pool = db.name === 'postgres' ? pgPool({ options }) : db.pool()
      if (db.name === 'postgres') t.teardown(() => (pool as { end(): Promise<void> }).end())
      return new SqlSessionStore({ ...own, pool })
    }) as [SqlSessionStore, SqlSessionStore]
    // Inserted in descending id order: the heap holds them the other way round from the index.
    const ids = Array.from({ length: 300 }, (_, i) => `touch-${String(299 - i).padStart(3, '0')}`)
    for (const id of ids) await allStore.add(session(id))
    const table =
      db.name === 'postgres'
        ? `"${own.schema}"."${own.prefix}sessions"`
        : `\`${own.prefix}sessions\``
    const settled = await crossedUpdates(
      db,
      table,
      ids,
      (few) => fewStore.touch(few, now + 1),
      (all) => allStore.touch(all, now + 2),
    )
    t.same(
      settled.map((result) => result.status),
      ['fulfilled', 'fulfilled'],
      settled.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ok')).join(),
    )
    t.equal(await allStore.countSweepable(now + 1), 0, 'every record was touched')
  })

  t.test('a join racing the removal of its record does nothing', async (t) => {
    const sessions = new SqlSessionStore({ ...tables, pool: pools[0] })
    await sessions.add(session('racing'))
    const table =
      db.name === 'postgres'
        ? `"${tables.schema}"."${tables.prefix}sessions"`
        : `\`${tables.prefix}sessions\``
    const remover = await transaction(db.pool(), `DELETE FROM ${table} WHERE id = 'racing'`)
    // The join reads the record, then waits on the remover's row lock to check its foreign key.
    const join = sessions.join('racing', 'room')
    await untilWaiting(db, table, 1)
    await remover()
    await join
    t.equal(await sessions.get('racing'), null)
    t.same(await sessions.listByChannel('room'), [])
  })
})

/** Runs `sql` in a transaction left open; resolves a function that commits it. */
async function transaction(pool: SqlPool, sql: string): Promise<() => Promise<void>> {
  if ('getConnection' in pool) {
    const connection = await pool.getConnection()
    await connection.query({ sql: 'START TRANSACTION' })
    await connection.query({ sql })
    return async () => {
      await connection.query({ sql: 'COMMIT' })
      connection.release()
    }
  }
  const client = await (pool as PgPool).connect()
  await client.query({ text: 'BEGIN' })
  await client.query({ text: sql })
  return async () => {
    await client.query({ text: 'COMMIT' })
    client.release()
  }
}
