import t from 'tap'
import mysqlDriver from 'mysql2/promise'
import pg from 'pg'
import { PostgresBroker, type PgPool } from '../src/index.js'
import { TcpProxy } from './helpers/proxy.js'
import { MYSQL_URL, mysqlPool, PG_URL, pgPool, randomName, reachable } from './helpers/servers.js'
import { eventually, sleep } from './helpers/timing.js'

const pool = pgPool()
t.teardown(() => pool.end())

/** Collects what a subscription receives. */
function inbox() {
  const got: string[] = []
  return { got, handler: (payload: string) => void got.push(payload) }
}

/** Publishes fresh payloads until `got` receives one of them. */
async function flows(publisher: PostgresBroker, topic: string, got: string[]) {
  await eventually(async () => {
    const payload = randomName('p')
    await publisher.publish(topic, payload)
    await sleep(30)
    if (!got.includes(payload)) throw new Error('not delivered yet')
  })
}

if (await reachable(t, 'PostgreSQL', () => pool.query('SELECT 1'))) {
  const prefix = `${randomName('b')}_`
  const publisher = new PostgresBroker({ pool, prefix })
  t.teardown(() => publisher.close())

  t.test(
    'two brokers on two pools: one hears the other; another prefix hears nothing',
    async (t) => {
      const other = pgPool()
      const listener = new PostgresBroker({ pool: other, prefix })
      const stranger = new PostgresBroker({ pool: other, prefix: `${randomName('s')}_` })
      t.teardown(async () => {
        await listener.close()
        await stranger.close()
        await other.end()
      })
      const [mine, theirs] = [inbox(), inbox()]
      await listener.subscribe('all', mine.handler)
      await stranger.subscribe('all', theirs.handler)
      await flows(publisher, 'all', mine.got)
      t.same(theirs.got, [])
    },
  )

  t.test('concurrent first subscribers of a topic both wait for LISTEN', async (t) => {
    const broker = new PostgresBroker({ pool, prefix })
    t.teardown(() => broker.close())
    const [a, b] = [inbox(), inbox()]
    await Promise.all([broker.subscribe('room', a.handler), broker.subscribe('room', b.handler)])
    await publisher.publish('room', 'hello')
    await eventually(async () =>
      a.got.length === 1 && b.got.length === 1 ? undefined : Promise.reject(),
    )
    t.same([a.got, b.got], [['hello'], ['hello']])
  })

  t.test('a burst of subscribes LISTENs in one round trip, and every topic hears', async (t) => {
    const spied = pgPool()
    const sent: string[] = []
    const connect = spied.connect.bind(spied)
    spied.connect = (async () => {
      const client = await connect()
      const query = client.query.bind(client) as (config: { text: string }) => Promise<unknown>
      client.query = ((config: { text: string }) => {
        sent.push(config.text)
        return query(config)
      }) as typeof client.query
      return client
    }) as typeof spied.connect
    const broker = new PostgresBroker({ pool: spied, prefix })
    t.teardown(async () => {
      await broker.close()
      await spied.end()
    })
    await broker.subscribe('warm', () => undefined) // the LISTEN connection is up
    sent.length = 0
    const topics = Array.from({ length: 50 }, (_, i) => `burst:${i}`)
    const inboxes = topics.map(() => inbox())
    const offs = await Promise.all(
      topics.map((topic, i) => broker.subscribe(topic, inboxes[i]!.handler)),
    )
    t.equal(sent.length, 1, 'one query')
    t.equal(sent[0]?.split('; ').length, 50, 'with every LISTEN')
    await Promise.all(topics.map((topic) => publisher.publish(topic, topic)))
    await eventually(async () =>
      inboxes.every(({ got }) => got.length === 1) ? undefined : Promise.reject(),
    )
    t.same(
      inboxes.map(({ got }) => got[0]),
      topics,
    )
    await Promise.all(offs.map((off) => off()))
    t.equal(sent.length, 2, 'the UNLISTENs in one more')
    t.match(sent[1], /^UNLISTEN .*; UNLISTEN /)
  })

  t.test('topics longer than 63 bytes are hashed into distinct channels', async (t) => {
    const broker = new PostgresBroker({ pool, prefix })
    t.teardown(() => broker.close())
    const long = `channel:${'ü'.repeat(40)}`
    const [a, b] = [inbox(), inbox()]
    t.ok(Buffer.byteLength(broker.channel(`${long}a`)) <= 63)
    t.not(broker.channel(`${long}a`), broker.channel(`${long}b`))
    t.equal(broker.channel('user:42'), `${prefix}user:42`, 'short names are kept')
    t.match(broker.channel('nul\0inside'), new RegExp(`^${prefix}#`), 'NUL cannot be an identifier')
    await broker.subscribe(`${long}a`, a.handler)
    await broker.subscribe(`${long}b`, b.handler)
    await publisher.publish(`${long}a`, 'to a')
    await flows(publisher, `${long}b`, b.got)
    t.same(a.got, ['to a'])
    t.notOk(b.got.includes('to a'))
  })

  t.test('a throwing handler is reported with its topic; the others still run', async (t) => {
    const errors: [unknown, string | undefined][] = []
    const broker = new PostgresBroker({
      pool,
      prefix,
      onError: (error, topic) => {
        errors.push([error, topic])
        throw new Error('onError throws too')
      },
    })
    t.teardown(() => broker.close())
    const { got, handler } = inbox()
    await broker.subscribe('boom', () => {
      throw new Error('handler failed')
    })
    await broker.subscribe('boom', handler)
    await flows(publisher, 'boom', got)
    t.match(errors[0], [{ message: 'handler failed' }, 'boom'])
  })

  t.test('unsubscribe: the last one UNLISTENs; twice is harmless', async (t) => {
    const broker = new PostgresBroker({ pool, prefix })
    t.teardown(() => broker.close())
    const [a, b] = [inbox(), inbox()]
    const offA = await broker.subscribe('u', a.handler)
    const offB = await broker.subscribe('u', b.handler)
    await flows(publisher, 'u', b.got)
    await offA()
    await offA()
    await flows(publisher, 'u', b.got)
    const seen = a.got.length
    await offB()
    const marker = inbox()
    await broker.subscribe('marker', marker.handler)
    await publisher.publish('u', 'after')
    // Publishes go out in call order: once the marker is here, 'after' would have been.
    await publisher.publish('marker', 'marker')
    await eventually(async () => (marker.got.length > 0 ? undefined : Promise.reject()))
    t.equal(a.got.length, seen)
    t.notOk(b.got.includes('after'))
    const again = inbox()
    await broker.subscribe('u', again.handler)
    await flows(publisher, 'u', again.got)
  })

  t.test('bad input and closed brokers get clear errors', async (t) => {
    t.throws(() => new PostgresBroker({}), /exactly one of the options pool and url/)
    t.throws(
      () => new PostgresBroker(undefined as never),
      /exactly one of the options pool and url/,
    )
    const mysql = mysqlPool()
    t.teardown(() => mysql.end())
    t.throws(
      () => new PostgresBroker({ pool: mysql as never }),
      /needs a pg.Pool or a postgres:\/\/ url/,
    )
    t.throws(() => new PostgresBroker({ url: 'mysql://root@127.0.0.1/test' }), /needs a pg.Pool/)
    t.throws(
      () => new PostgresBroker({ pool, reconnectDelayMs: 0 }),
      /reconnectDelayMs must be a positive integer/,
    )
    t.throws(
      () => new PostgresBroker({ pool, onError: 'no' as never }),
      /onError must be a function/,
    )
    const broker = new PostgresBroker({ pool, prefix })
    await t.rejects(broker.subscribe('x', 'no' as never), TypeError)
    const off = await broker.subscribe('x', () => {})
    await broker.close()
    await broker.close()
    await off()
    await t.rejects(
      broker.subscribe('x', () => {}),
      /closed/,
    )
    const closing = new PostgresBroker({ pool, prefix })
    const pending = closing.subscribe('y', () => {})
    await closing.close()
    await t.rejects(pending, /closed/, 'closed while connecting')
    const idle = new PostgresBroker({ pool, prefix, healthCheckMs: 5 })
    await sleep(30) // health checks with nothing to check
    await idle.close()
  })

  t.test('a broker refused at construction ends the pool it made from its url', async (t) => {
    // The drivers' own modules, which the broker loads: every pool it creates is recorded.
    const made: { ended: () => boolean }[] = []
    const { Pool } = pg
    const { createPool } = mysqlDriver
    pg.Pool = class extends Pool {
      constructor(config?: pg.PoolConfig) {
        super(config)
        made.push({ ended: () => this.ending })
      }
    }
    mysqlDriver.createPool = ((config: mysqlDriver.PoolOptions) => {
      const created = createPool(config)
      const core = created.pool as unknown as { _closed: boolean }
      made.push({ ended: () => core._closed })
      return created
    }) as typeof createPool
    t.teardown(() => {
      pg.Pool = Pool
      mysqlDriver.createPool = createPool
    })
    const refused = [
      [{ url: PG_URL, maxPayloadBytes: 0 }, /option maxPayloadBytes must be a positive integer/],
      [{ url: PG_URL, retentionMs: -1 }, /option retentionMs must be a positive integer/],
      [{ url: PG_URL, sweepIntervalMs: 1.5 }, /option sweepIntervalMs must be a positive integer/],
      [{ url: PG_URL, onError: 'no' as never }, /option onError must be a function/],
      [{ url: MYSQL_URL }, /needs a pg.Pool or a postgres:\/\/ url/],
    ] as const
    for (const [options, message] of refused) {
      t.throws(() => new PostgresBroker(options), message)
    }
    t.ok(
      made.every((pool) => pool.ended()),
      `every pool made is ended (${made.filter((pool) => !pool.ended()).length} of ${made.length} left open)`,
    )
  })

  t.test(
    'after its LISTEN connection is killed, the broker reconnects and LISTENs again',
    async (t) => {
      const application = randomName('wsw_listen_')
      const url = new URL(PG_URL)
      url.searchParams.set('application_name', application)
      const errors: unknown[] = []
      const broker = new PostgresBroker({
        url: url.toString(),
        prefix,
        reconnectDelayMs: 20,
        onError: (error) => errors.push(error),
      })
      t.teardown(() => broker.close())
      const [a, b] = [inbox(), inbox()]
      await broker.subscribe('one', a.handler)
      await broker.subscribe('two', b.handler)
      await flows(publisher, 'one', a.got)
      const killed = await pool.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [application],
      )
      t.ok(killed.rowCount! > 0)
      await eventually(async () => (errors.length > 0 ? undefined : Promise.reject()))
      await flows(publisher, 'one', a.got)
      await flows(publisher, 'two', b.got)
      t.ok(errors.length >= 1, 'the lost connection was reported')
    },
  )

  t.test('a reconnect due after the last unsubscribe connects without LISTEN', async (t) => {
    const application = randomName('wsw_gone_')
    const own = pgPool({ application_name: application })
    t.teardown(() => own.end())
    let connected = 0
    const counting: PgPool = {
      connect: async () => {
        const client = await own.connect()
        connected++
        return client
      },
      end: () => own.end(),
    }
    const errors: unknown[] = []
    const broker = new PostgresBroker({
      pool: counting,
      prefix,
      reconnectDelayMs: 100,
      onError: (error) => errors.push(error),
    })
    t.teardown(() => broker.close())
    const off = await broker.subscribe('gone', () => {})
    await pool.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [application],
    )
    await eventually(async () => (errors.length > 0 ? undefined : Promise.reject()))
    await off()
    // The reconnect runs, with nothing to LISTEN on (what follows a connect runs before a timer).
    await eventually(async () => (connected === 2 ? undefined : Promise.reject()))
    const { got, handler } = inbox()
    await broker.subscribe('gone', handler)
    await flows(publisher, 'gone', got)
  })

  t.test('a reconnect that fails is reported and tried again', async (t) => {
    const application = randomName('wsw_flaky_')
    const own = pgPool({ application_name: application })
    let failures = 0
    // Connects normally, except the two attempts after `failures` is set.
    const flaky: PgPool = {
      connect: () => (failures-- > 0 ? Promise.reject(new Error('no connection')) : own.connect()),
      end: () => own.end(),
    }
    const errors: unknown[] = []
    const broker = new PostgresBroker({
      pool: flaky,
      prefix,
      reconnectDelayMs: 10,
      onError: (error) => errors.push(error),
    })
    t.teardown(() => broker.close())
    const { got, handler } = inbox()
    await broker.subscribe('flaky', handler)
    failures = 2
    await pool.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [application],
    )
    await flows(publisher, 'flaky', got)
    t.match(
      errors.map((error) => (error as Error).message),
      [/terminating connection|Connection terminated/, 'no connection', 'no connection'],
    )
  })

  t.test(
    'through a partition and an outage: subscribe fails, the health check reconnects',
    async (t) => {
      const proxy = await TcpProxy.start(5432)
      const errors: unknown[] = []
      const broker = new PostgresBroker({
        url: proxy.url(PG_URL),
        prefix,
        timeoutMs: 200,
        reconnectDelayMs: 20,
        healthCheckMs: 50,
        onError: (error) => errors.push(error),
      })
      t.teardown(async () => {
        await broker.close()
        await proxy.close()
      })
      proxy.reset()
      await t.rejects(
        broker.subscribe('p', () => {}),
        'no server, no subscription',
      )
      proxy.restore()
      const { got, handler } = inbox()
      await eventually(() => broker.subscribe('p', handler))
      await flows(publisher, 'p', got)
      proxy.blackhole()
      const before = errors.length
      await eventually(async () => (errors.length > before ? undefined : Promise.reject()))
      proxy.restore()
      await flows(publisher, 'p', got)
      t.ok(errors.length > before, 'the dead connection was noticed and reported')
    },
  )
}
