import t, { type Test } from 'tap'
import type { SessionRecord } from '@ws-warden/core/stores'
import { createSqlStores, type SqlStores } from '../src/index.js'
import { eachDatabase } from './helpers/dialects.js'
import { TcpProxy } from './helpers/proxy.js'
import { MYSQL_URL, PG_URL, pgPool, randomName } from './helpers/servers.js'
import { eventually, settleWithin } from './helpers/timing.js'

const now = Date.now()
const record = (id: string): SessionRecord => ({
  id,
  userId: 'u',
  instanceId: 'i',
  ip: '192.0.2.1',
  channels: ['room'],
  connectedAt: now,
  lastSeenAt: now,
})

/** One call of every kind, each with fresh keys. */
const calls = (stores: SqlStores): Record<string, () => Promise<unknown>> => {
  const id = randomName('x')
  return {
    consume: () => stores.tokens.consume(id, Date.now() + 60_000),
    'add with caps': () => stores.sessions.add(record(id), { perUser: 100, total: 1000 }),
    get: () => stores.sessions.get(id),
    hit: () => stores.rateLimits.hit(id, 5, 60_000),
    acquire: () => stores.locks.acquire(id, 1000),
    sweep: () => stores.tokens.sweep(Date.now()),
  }
}

eachDatabase(t, async (t, db) => {
  const tables = await db.fresh()
  const proxy = await TcpProxy.start(db.name === 'postgres' ? 5432 : 3306)
  const url = proxy.url(db.name === 'postgres' ? PG_URL : MYSQL_URL)
  const stores = createSqlStores({
    url,
    prefix: tables.prefix,
    schema: tables.schema,
    timeoutMs: 300,
  })
  t.teardown(async () => {
    await stores.close()
    await proxy.close()
  })

  const allFail = async (t: Test, what: string) => {
    for (const [name, call] of Object.entries(calls(stores))) {
      const outcome = await settleWithin(call())
      t.ok(outcome instanceof Error, `${what}: ${name} fails (${String(outcome)})`)
    }
  }
  const allWork = async (t: Test) => {
    // The first call after the return may still meet a connection the pool has not yet dropped.
    await eventually(() => stores.tokens.consume(randomName('probe'), Date.now() + 60_000))
    for (const [name, call] of Object.entries(calls(stores))) {
      // Each call works within the bounded wait: on a loaded machine one may take longer than
      // the 300 ms timeoutMs that makes the failures quick (every call here may run twice).
      const outcome = await settleWithin(eventually(call), 30_000)
      t.notOk(
        outcome instanceof Error || outcome === 'hung',
        `${name} works again (${String(outcome)})`,
      )
    }
  }

  t.test('through the proxy, every call works', async (t) => {
    await allWork(t)
  })

  t.test('the server goes away (connections reset, new ones refused), then returns', async (t) => {
    await allWork(t)
    proxy.reset()
    await allFail(t, 'reset')
    proxy.restore()
    await allWork(t)
  })

  t.test(
    'a partition (nothing answers, no FIN, no RST) fails each call in bounded time',
    async (t) => {
      await allWork(t)
      proxy.blackhole()
      await allFail(t, 'black hole')
      proxy.restore()
      await allWork(t)
    },
  )

  t.test('nothing was written twice or half-way', async (t) => {
    // A session add that failed left no record without its channels, nor channels without it.
    const orphans = await stores.sessions.listByChannel('room')
    for (const session of orphans) t.same(session.channels, ['room'])
  })

  if (db.name === 'postgres') {
    t.test('your own pool recovers after its backends are terminated', async (t) => {
      const application = randomName('wsw_kill_')
      const pool = pgPool({ application_name: application })
      const mine = createSqlStores({ pool, schema: tables.schema, prefix: tables.prefix })
      t.teardown(async () => {
        await mine.close()
        await pool.end()
      })
      await Promise.all(Array.from({ length: 5 }, () => mine.sessions.count()))
      const killed = await db.admin(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [application],
      )
      t.ok((killed as { rowCount: number }).rowCount > 0, 'backends terminated')
      await eventually(() => mine.sessions.count())
      for (let i = 0; i < 10; i++) t.type(await mine.sessions.count(), 'number')
    })
  }
})

eachDatabase(t, async (t, db) => {
  const tables = await db.fresh()
  const proxy = await TcpProxy.start(db.name === 'postgres' ? 5432 : 3306)
  const url = proxy.url(db.name === 'postgres' ? PG_URL : MYSQL_URL)
  const errors: unknown[] = []
  const stores = createSqlStores({
    url,
    prefix: tables.prefix,
    schema: tables.schema,
    timeoutMs: 2000,
    rateLimitFailOpen: true,
    onError: (error) => errors.push(error),
  })
  t.teardown(async () => {
    await stores.close()
    await proxy.close()
  })

  t.test(
    'rateLimitFailOpen: hits are allowed while the database is away; the rest fails',
    async (t) => {
      // Connected first: the hits below that must be counted are not also the pool's first
      // connect, which a loaded machine may make slower than failOpenAfterMs (1000).
      await eventually(() => stores.tokens.consume(randomName('warm'), Date.now() + 60_000))
      t.same(await stores.rateLimits.hit('open', 1, 60_000), {
        allowed: true,
        remaining: 0,
        retryAfterMs: 0,
      })
      t.equal((await stores.rateLimits.hit('open', 1, 60_000)).allowed, false, 'counted while up')
      proxy.reset()
      t.same(await stores.rateLimits.hit('open', 1, 60_000), {
        allowed: true,
        remaining: 0,
        retryAfterMs: 0,
      })
      t.equal(errors.length, 1, 'the error was reported')
      t.type(
        await settleWithin(stores.tokens.consume('closed', Date.now() + 60_000)),
        Error,
        'tokens fail closed',
      )
      proxy.blackhole()
      t.same(await stores.rateLimits.hit('open', 1, 60_000), {
        allowed: true,
        remaining: 0,
        retryAfterMs: 0,
      })
      t.match(errors[1], { message: /rate limit hit did not answer within 1000 ms/ })
      proxy.restore()
      await eventually(async () =>
        (await stores.rateLimits.hit('open', 1, 60_000)).allowed ? Promise.reject() : undefined,
      )
    },
  )
})
