import t from 'tap'
import mysql from 'mysql2'
import {
  createSqlStores,
  migrate,
  SqlHistoryStore,
  SqlLockStore,
  SqlRateLimitStore,
  SqlResumeStore,
  SqlSessionStore,
  SqlTokenStore,
  type PgPool,
  type SqlPool,
} from '../src/index.js'
import { eachDatabase } from './helpers/dialects.js'
import { recording, type Statement } from './helpers/recording.js'
import { MYSQL_URL, PG_URL, pgPool } from './helpers/servers.js'

t.test('options are checked at construction, with errors that name them', async (t) => {
  const pool = pgPool()
  t.teardown(() => pool.end())
  const stores = [
    SqlSessionStore,
    SqlTokenStore,
    SqlRateLimitStore,
    SqlLockStore,
    SqlHistoryStore,
    SqlResumeStore,
  ]
  for (const Store of stores) {
    t.throws(
      () => new Store({}),
      new RegExp(`${Store.name} needs exactly one of the options pool and url`),
    )
    t.throws(() => new Store(undefined as never), /needs exactly one/)
  }
  t.throws(
    () => new SqlTokenStore({ pool, url: PG_URL }),
    /exactly one of the options pool and url/,
  )
  t.throws(() => createSqlStores({ pool, url: PG_URL }), /createSqlStores needs exactly one/)
  t.throws(() => createSqlStores(undefined as never), /SqlSessionStore needs exactly one/)
  t.throws(() => new SqlTokenStore({ pool, prefix: 'bad-prefix' }), /option prefix must be letters/)
  t.throws(() => new SqlTokenStore({ pool, prefix: 'p'.repeat(31) }), /at most 30/)
  t.throws(() => new SqlTokenStore({ pool, schema: 'a;b' }), /option schema must be/)
  t.throws(
    () => new SqlTokenStore({ pool, timeoutMs: 0 }),
    /option timeoutMs must be a positive integer/,
  )
  t.throws(
    () => new SqlTokenStore({ pool, batchSize: 1.5 }),
    /option batchSize must be a positive integer/,
  )
  t.throws(
    () => new SqlTokenStore({ pool, clock: {} as never }),
    /option clock must be an object with a now/,
  )
  t.throws(() => new SqlTokenStore({ url: 42 as never }), /option url must be a string/)
  t.throws(
    () => new SqlTokenStore({ url: 'redis://localhost' }),
    /url must start with postgres:\/\//,
  )
  t.throws(
    () => new SqlTokenStore({ pool: {} as never }),
    /pool must be a pg.Pool or a mysql2 pool/,
  )
  t.throws(
    () => new SqlTokenStore({ url: MYSQL_URL, schema: 'x' }),
    /schema is for PostgreSQL only/,
  )
  const mine = mysql.createPool({ uri: MYSQL_URL })
  t.teardown(() => new Promise((resolve) => mine.end(resolve)))
  t.throws(() => new SqlTokenStore({ pool: mine, schema: 'x' }), /schema is for PostgreSQL only/)
  t.throws(() => createSqlStores({ url: MYSQL_URL, schema: 'x' }), /schema is for PostgreSQL only/)
  await t.rejects(migrate({ url: 'ftp://x' }), /url must start with/)
})

eachDatabase(t, async (t, db) => {
  const tables = await db.fresh()
  const url = db.name === 'postgres' ? PG_URL : MYSQL_URL.replace(/^mysql:/, 'mariadb:')
  const now = Date.now()

  t.test('stores made from a url end their own pool, once', async (t) => {
    const stores = [
      new SqlSessionStore({ ...tables, pool: undefined, url }),
      new SqlTokenStore({ ...tables, pool: undefined, url }),
      new SqlRateLimitStore({ ...tables, pool: undefined, url }),
      new SqlLockStore({ ...tables, pool: undefined, url }),
      new SqlHistoryStore({ ...tables, pool: undefined, url }),
      new SqlResumeStore({ ...tables, pool: undefined, url }),
    ] as const
    t.equal(await stores[0].count(), 0)
    t.equal(await stores[1].consume('url-jti', now + 60_000), true)
    t.equal((await stores[2].hit('url-key', 1, 60_000)).allowed, true)
    t.type(await stores[3].acquire('url-lock', 1000), 'function')
    t.equal(await stores[4].head('url-stream'), 0)
    t.equal(await stores[5].remove('url-session'), false)
    for (const store of stores) {
      await store.close()
      await store.close()
    }
    await t.rejects(stores[1].consume('after-close', now + 60_000), 'its pool is gone')
    await t.rejects(stores[0].join('any', 'room'), 'a failed join is not taken for a race')
  })

  t.test('createSqlStores from a url shares one pool and ends it in close()', async (t) => {
    const stores = createSqlStores({ ...tables, pool: undefined, url })
    t.equal(await stores.tokens.consume('shared-jti', now + 60_000), true)
    await stores.close()
    await stores.close()
    await t.rejects(stores.sessions.count())
  })

  t.test('stores given a pool never end it', async (t) => {
    const stores = createSqlStores(tables)
    await stores.close()
    const store = new SqlTokenStore(tables)
    await store.close()
    t.equal(await store.consume('still-open', now + 60_000), true)
  })

  if (db.name === 'mysql') {
    t.test('a callback-style mysql2 pool is used through its promise() wrapper', async (t) => {
      const pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 2 })
      t.teardown(() => new Promise((resolve) => pool.end(resolve)))
      const store = new SqlTokenStore({ ...tables, pool })
      t.equal(await store.consume('callback-pool', now + 60_000), true)
      t.equal(await store.consume('callback-pool', now + 60_000), false)
    })
  }

  t.test('an add that fails half-way leaves nothing behind', async (t) => {
    const log: Statement[] = []
    // After the record is written: MySQL's channel insert, PostgreSQL's COMMIT (its add writes
    // everything in one statement). Twice.
    let failures = 2
    const failing = recording(tables.pool as SqlPool, log, (sql) =>
      (sql.includes('(session_id, channel) VALUES') || /(^|; )COMMIT$/.test(sql)) && failures-- > 0
        ? 'fail'
        : 'run',
    )
    const sessions = new SqlSessionStore({ ...tables, pool: failing })
    const record = {
      id: 'half',
      userId: 'u',
      instanceId: 'i',
      ip: 'ip',
      channels: ['a'],
      connectedAt: now,
      lastSeenAt: now,
    }
    await t.rejects(sessions.add(record, { perUser: 5, total: 100 }), /refused by the test/)
    await t.rejects(sessions.add(record), /refused by the test/)
    t.equal(await sessions.get('half'), null, 'the transaction rolled back')
    t.same(
      await sessions.add({ ...record, channels: [] }, { perUser: 5 }),
      { ok: true },
      'and freed its locks',
    )
  })

  if (db.name === 'mysql') {
    t.test('a refused hit whose window was swept before its end was read waits 1 ms', async (t) => {
      const swept = recording(tables.pool as SqlPool, [], (sql) =>
        sql.startsWith('SELECT expires_at') ? 'empty' : 'run',
      )
      const rateLimits = new SqlRateLimitStore({ ...tables, pool: swept })
      await rateLimits.hit('swept', 1, 60_000)
      t.same(await rateLimits.hit('swept', 1, 60_000), {
        allowed: false,
        remaining: 0,
        retryAfterMs: 1,
      })
    })
  }

  t.test('bad arguments are refused before any statement runs', async (t) => {
    const { sessions, tokens, rateLimits, locks } = createSqlStores(tables)
    const record = {
      id: 'r',
      userId: 'u',
      instanceId: 'i',
      ip: 'ip',
      channels: [],
      connectedAt: now,
      lastSeenAt: now,
    }
    await t.rejects(
      tokens.consume('', now + 1000),
      /consume\(jti\) must be a non-empty string of at most 512 bytes/,
    )
    await t.rejects(tokens.consume('x'.repeat(513), now + 1000), /at most 512 bytes/)
    await t.rejects(tokens.consume('a\0b', now + 1000), /without NUL/)
    await t.rejects(
      tokens.consume('ok', Number.NaN),
      /consume\(expiresAt\) must be a finite epoch time/,
    )
    t.equal(
      await tokens.consume('already-expired', now - 1),
      true,
      'an expired token stores nothing',
    )
    t.equal(await tokens.consume('already-expired', now - 1), true)
    await t.rejects(tokens.sweep(Number.POSITIVE_INFINITY), /tokens.sweep\(before\)/)
    await t.rejects(rateLimits.hit('k', 0, 1000), /hit\(limit\) must be a positive integer/)
    await t.rejects(rateLimits.hit('k', 1, 1.5), /hit\(windowMs\) must be a positive integer/)
    await t.rejects(rateLimits.hit('', 1, 1000), /hit\(key\)/)
    await t.rejects(rateLimits.sweep(Number.NaN), /rateLimits.sweep\(before\)/)
    await t.rejects(locks.acquire('l', -1), /acquire\(ttlMs\) must be a positive integer/)
    await t.rejects(locks.acquire('', 10), /acquire\(name\)/)
    await t.rejects(sessions.add({ ...record, id: '' }), /sessions.add\(record.id\)/)
    await t.rejects(sessions.add({ ...record, channels: [''] }), /sessions.add\(record.channels\)/)
    await t.rejects(sessions.add({ ...record, lastSeenAt: Number.NaN }), /record.lastSeenAt/)
    await t.rejects(sessions.add(record, { perUser: 0 }), /caps.perUser must be a positive integer/)
    await t.rejects(sessions.add(record, { perIp: -1 }), /caps.perIp/)
    await t.rejects(sessions.add(record, { total: 2.5 }), /caps.total/)
    await t.rejects(sessions.touch(['ok', ''], now), /sessions.touch\(ids\)/)
    await t.rejects(sessions.touch(['ok'], Number.NaN), /sessions.touch\(at\)/)
    await t.rejects(sessions.count({ userId: '' }), /count\(filter.userId\)/)
    await t.rejects(sessions.count({ ip: '' }), /count\(filter.ip\)/)
    await t.rejects(sessions.count({ channel: '' }), /count\(filter.channel\)/)
    await t.rejects(sessions.sweep(Number.NaN), /sessions.sweep\(staleBefore\)/)
    t.equal(await sessions.get('r'), null, 'nothing was written')
  })

  t.test(
    'with an injected clock, retryAfterMs counts from the first hit of the window',
    async (t) => {
      const clock = { now: () => now }
      const rateLimits = new SqlRateLimitStore({ ...tables, clock })
      t.same(await rateLimits.hit('gone', 1, 60_000), {
        allowed: true,
        remaining: 0,
        retryAfterMs: 0,
      })
      const refused = await rateLimits.hit('gone', 1, 60_000)
      t.same(refused, { allowed: false, remaining: 0, retryAfterMs: 60_000 })
    },
  )
})

t.test('rate-limit fail-open options are checked', async (t) => {
  const pool = pgPool()
  t.teardown(() => pool.end())
  t.throws(
    () => new SqlRateLimitStore({ pool, failOpen: true, failOpenAfterMs: 0 }),
    /option failOpenAfterMs must be a positive integer/,
  )
  t.throws(
    () => new SqlRateLimitStore({ pool, onError: 1 as never }),
    /SqlRateLimitStore option onError must be a function/,
  )
  await t.rejects(
    new SqlRateLimitStore({ pool, failOpen: true }).hit('k', 0, 1000),
    /hit\(limit\)/,
    'bad input is not failed open',
  )
  const down: PgPool = { connect: () => Promise.reject(new Error('down')), end: async () => {} }
  const open = new SqlRateLimitStore({ pool: down, failOpen: true })
  t.same(
    await open.hit('k', 1, 1000),
    { allowed: true, remaining: 0, retryAfterMs: 0 },
    'no onError needed',
  )
  await t.rejects(
    new SqlRateLimitStore({ pool: down }).hit('k', 1, 1000),
    /down/,
    'closed by default',
  )
})
