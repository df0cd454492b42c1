import t, { type Test } from 'tap'
import {
  MAX_INLINE_BYTES,
  migrate,
  PayloadTooLargeError,
  PostgresBroker,
  type PgClient,
  type PgPool,
  type PostgresBrokerOptions,
} from '../src/index.js'
import { holding } from './helpers/held.js'
import { TcpProxy } from './helpers/proxy.js'
import { recording, type Statement } from './helpers/recording.js'
import { PG_URL, pgPool, randomName, reachable } from './helpers/servers.js'
import { eventually, sleep } from './helpers/timing.js'

// Payloads of every size between brokers on separate pools (as separate instances are), over the
// tables of this run's own schema.
const admin = pgPool()
const schema = randomName('wsw_payloads_')
const prefix = `${randomName('p')}_`
const table = `"${schema}"."${prefix}broker_payloads"`
t.teardown(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {})
  await admin.end()
})

/** Collects what a subscription receives. */
function inbox() {
  const got: string[] = []
  return { got, handler: (payload: string) => void got.push(payload) }
}

/** Resolves once `got` holds `n` payloads (or fails after the bounded wait of `eventually`). */
const holds = (got: string[], n: number) =>
  eventually(async () => {
    if (got.length < n) throw new Error(`${got.length} of ${n} payloads arrived`)
  })

const stored = async () =>
  Number((await admin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n)

if (await reachable(t, 'PostgreSQL', () => admin.query('SELECT 1'))) {
  await migrate({ pool: admin, schema, prefix })
  /** A broker of this run on a pool of its own: one instance. */
  const instance = (t: Test, options: Partial<PostgresBrokerOptions> = {}) => {
    const pool = options.pool ?? pgPool()
    const broker = new PostgresBroker({ pool, schema, prefix, ...options })
    t.teardown(async () => {
      await broker.close()
      if (options.pool === undefined) await (pool as PgPool).end()
    })
    return broker
  }

  t.test('every size crosses between two instances, byte for byte', async (t) => {
    const [one, two] = [instance(t), instance(t)]
    const { got, handler } = inbox()
    await two.subscribe('all', handler)
    const x = (n: number) => 'x'.repeat(n)
    const payloads: [string, string, 'inline' | 'stored'][] = [
      ['100 B', x(100), 'inline'],
      ['7,999 B', x(7999), 'inline'],
      ['8,000 B', x(8000), 'stored'],
      ['10 KB', x(10_240), 'stored'],
      ['1 MB', `{"d":"${'ü€👋'.repeat(116_508)}"}`, 'stored'],
      ['7,999 B of 3-byte characters', `${'€'.repeat(2666)}x`, 'inline'],
      ['8,001 B of 3-byte characters', '€'.repeat(2667), 'stored'],
      ['a 4-byte character ending at byte 7,999', `${x(7995)}👋`, 'inline'],
      ['a 4-byte character ending at byte 8,000', `${x(7996)}👋`, 'stored'],
      ['the empty string', '', 'inline'],
      ['what looks like a stored id', '\u00011', 'inline'],
      ['7,998 B from a \\u0001', `\u0001${x(7997)}`, 'inline'],
      ['7,999 B from a \\u0001', `\u0001${x(7998)}`, 'stored'],
    ]
    t.ok(Buffer.byteLength(payloads[4]![1]) > 1_048_576, 'the 1 MB payload')
    for (const [name, payload, how] of payloads) {
      const before = await stored()
      await one.publish('all', payload)
      t.equal(await stored(), before + (how === 'stored' ? 1 : 0), `${name}: ${how}`)
    }
    await holds(got, payloads.length)
    t.equal(got.length, payloads.length, 'each once')
    for (const [i, [name, payload]] of payloads.entries()) {
      t.ok(got[i] === payload, `${name}: the same string, in order`)
      t.equal(Buffer.compare(Buffer.from(got[i]!), Buffer.from(payload)), 0, `${name}: same bytes`)
    }
    t.equal(MAX_INLINE_BYTES, 7999)
  })

  t.test("a stored payload's commit is not waited for on disk, and only its own", async (t) => {
    const single = pgPool({ max: 1 })
    t.teardown(() => single.end())
    const log: Statement[] = []
    const broker = instance(t, { pool: recording(single, log) as PgPool, sweepIntervalMs: false })
    await single.query('SET synchronous_commit = on') // the one connection of the pool
    await broker.publish('async', 'a'.repeat(8000))
    t.match(log.at(-1)?.sql, /set_config\('synchronous_commit', 'off', true\)/)
    const setting = await single.query("SELECT current_setting('synchronous_commit') AS value")
    t.equal(setting.rows[0].value, 'on', "the connection's setting is untouched")
  })

  t.test(
    'bursts of large payloads from two publishers arrive in order per publisher',
    async (t) => {
      const publishers = [instance(t), instance(t)]
      const listener = instance(t)
      const { got, handler } = inbox()
      await listener.subscribe('burst', handler)
      const sent = publishers.map((_, p) =>
        // Every third one small: it must not overtake the large ones before it.
        Array.from({ length: 40 }, (_, i) =>
          JSON.stringify({ p, i, pad: i % 3 === 0 ? '' : 'y'.repeat(20_000 + i) }),
        ),
      )
      // Not awaited one by one: publish is called 80 times at once.
      await Promise.all(
        publishers.flatMap((broker, p) => sent[p]!.map((m) => broker.publish('burst', m))),
      )
      await holds(got, 80)
      for (const [p, mine] of sent.entries()) {
        const arrived = got.filter((payload) => (JSON.parse(payload) as { p: number }).p === p)
        t.same(arrived, mine, `publisher ${p}: all of them, in call order`)
      }
    },
  )

  t.test('notifications that arrive together: their payloads in one fetch each 100', async (t) => {
    const publisher = instance(t)
    const log: Statement[] = []
    const { pool: held, control } = holding(pgPool(), log)
    t.teardown(() => held.end())
    const listener = instance(t, { pool: held })
    const { got, handler } = inbox()
    await listener.subscribe('many', handler)
    control.hold = true
    const sent = Array.from({ length: 150 }, (_, i) =>
      i % 10 === 0 ? `small ${i}` : `${i} ${'z'.repeat(MAX_INLINE_BYTES)}`,
    )
    for (const payload of sent) await publisher.publish('many', payload)
    await eventually(async () => (control.held === 150 ? undefined : Promise.reject()))
    log.length = 0
    control.release()
    await holds(got, 150)
    t.same(got, sent, 'all, in order')
    const fetches = log.filter((s) => s.sql.includes('= ANY'))
    t.same(
      fetches.map((s) => (s.values[0] as string[]).length),
      [100, 35],
      'the 135 stored ones in two statements',
    )
  })

  t.test('a payload that cannot be stored rejects publish, and nothing is sent', async (t) => {
    const listener = instance(t)
    const { got, handler } = inbox()
    await listener.subscribe('fails', handler)
    // The same channels, but a schema where the table was never made.
    const empty = randomName('wsw_empty_')
    await admin.query(`CREATE SCHEMA "${empty}"`)
    t.teardown(() => admin.query(`DROP SCHEMA "${empty}" CASCADE`))
    const unmigrated = instance(t, { schema: empty })
    const missing = unmigrated.channel('fails')
    t.equal(missing, listener.channel('fails'))
    await t.rejects(unmigrated.publish('fails', 'x'.repeat(8000)), {
      message: /needs the table .*broker_payloads.* run migrate\(\) with the broker's prefix/,
      cause: { code: '42P01' },
    })
    // Publishes go out in call order: once this arrives, anything sent before it would have.
    await unmigrated.publish('fails', 'after')
    await holds(got, 1)
    t.same(got, ['after'])

    const proxy = await TcpProxy.start(5432)
    t.teardown(() => proxy.close())
    const cut = new PostgresBroker({ url: proxy.url(PG_URL), schema, prefix, timeoutMs: 500 })
    t.teardown(() => cut.close())
    const rows = await stored()
    proxy.reset()
    await t.rejects(cut.publish('fails', 'x'.repeat(8000)), 'no connection: rejected (large)')
    await t.rejects(cut.publish('fails', 'small'), 'no connection: rejected (small)')
    proxy.restore()
    await eventually(() => cut.publish('fails', 'restored'))
    await holds(got, 2)
    t.same(got, ['after', 'restored'])
    t.equal(await stored(), rows, 'no row left behind')
  })

  t.test('a publish stuck behind another for timeoutMs rejects, and is never sent', async (t) => {
    const listener = instance(t)
    const { got, handler } = inbox()
    await listener.subscribe('queue', handler)
    let stall: Promise<void> | undefined
    let open!: () => void
    const own = pgPool()
    t.teardown(() => own.end())
    const stalling: PgPool = {
      connect: () => {
        const wait = stall
        return (async () => {
          await wait
          return own.connect()
        })()
      },
      end: () => own.end(),
    }
    const publisher = instance(t, { pool: stalling, timeoutMs: 200 })
    stall = new Promise((resolve) => (open = resolve))
    const first = publisher.publish('queue', 'first')
    stall = undefined
    await t.rejects(publisher.publish('queue', 'second'), {
      message: /publish waited 200 ms for the publishes before it, and was not sent/,
    })
    open()
    await first
    await publisher.publish('queue', 'third')
    await holds(got, 2)
    t.same(got, ['first', 'third'])
  })

  t.test('maxPayloadBytes: larger payloads are refused before anything is sent', async (t) => {
    const log: Statement[] = []
    const small = instance(t, {
      pool: recording(admin as PgPool, log) as PgPool,
      maxPayloadBytes: 10_000,
    })
    await small.publish('limit', '€'.repeat(3333)) // 9,999 bytes
    const error = await small.publish('limit', '€'.repeat(3334)).catch((e: unknown) => e)
    t.type(error, PayloadTooLargeError)
    t.match(error, { bytes: 10_002, limit: 10_000 })
    t.match((error as Error).message, /at most 10000 bytes \(option maxPayloadBytes\), got 10002/)
    t.equal(log.length, 1, 'one statement: the one that fit')
    const byDefault = instance(t)
    const huge = await byDefault.publish('limit', 'x'.repeat(16_777_217)).catch((e: unknown) => e)
    t.match(huge, { bytes: 16_777_217, limit: 16_777_216 }, '16 MiB by default')
    await t.rejects(small.publish('limit', 42 as unknown as string), TypeError)
  })

  t.test('retention: the sweep deletes old payloads, not fresh ones', async (t) => {
    const own = `${randomName('r')}_`
    await migrate({ pool: admin, schema, prefix: own })
    const rows = async () =>
      (
        await admin.query(
          `SELECT created_at::float8 AS at FROM "${schema}"."${own}broker_payloads" ORDER BY id`,
        )
      ).rows.map((row: { at: number }) => row.at)
    const clock = { at: 1_000_000, now: () => clock.at }
    const broker = instance(t, { prefix: own, clock, sweepIntervalMs: false, retentionMs: 5_000 })
    for (const at of [1_000_000, 1_004_999, 1_005_000, 1_009_000]) {
      clock.at = at
      await broker.publish('old', 'o'.repeat(8000))
    }
    t.same(await rows(), [1_000_000, 1_004_999, 1_005_000, 1_009_000], 'created at the clock')
    t.equal(await broker.sweep(1_005_000), 2, 'before is exclusive')
    t.same(await rows(), [1_005_000, 1_009_000])
    t.equal(await broker.sweep(1_005_000), 0)
    await t.rejects(broker.sweep(Number.NaN), /broker.sweep\(before\) must be a finite/)

    // On its own timer: every sweepIntervalMs, what is older than retentionMs.
    const errors: unknown[] = []
    const timed = instance(t, {
      prefix: own,
      clock,
      retentionMs: 5_000,
      sweepIntervalMs: 10,
      onError: (error) => errors.push(error),
    })
    clock.at = 1_014_000
    await timed.publish('old', 'f'.repeat(8000))
    await eventually(async () => ((await rows()).length === 2 ? undefined : Promise.reject()))
    t.same(await rows(), [1_009_000, 1_014_000], 'only what was older than 5 s went')
    t.same(errors, [])

    // A sweep that fails is reported, and the next one runs.
    const failing = instance(t, {
      prefix: `${randomName('gone')}_`,
      sweepIntervalMs: 5,
      onError: (error) => errors.push(error),
    })
    await eventually(async () => (errors.length >= 2 ? undefined : Promise.reject()))
    t.match(errors[0], { message: /needs the table/ })
    await failing.close()
  })

  t.test('a sweep slower than its interval is not overtaken by the next one', async (t) => {
    const own = `${randomName('s')}_`
    await migrate({ pool: admin, schema, prefix: own })
    const base = pgPool()
    t.teardown(() => base.end())
    const deletes: string[] = []
    let release = () => {}
    const stalled = new Promise<void>((resolve) => (release = resolve))
    const pool: PgPool = {
      connect: async () => {
        const client = await base.connect()
        return {
          ...client,
          query: async (config: Parameters<PgClient['query']>[0]) => {
            if (/^\s*DELETE/i.test(config.text)) {
              deletes.push(config.text)
              await stalled
            }
            return client.query(config)
          },
          release: (destroy?: boolean | Error) => client.release(destroy),
          on: client.on.bind(client),
          removeListener: client.removeListener.bind(client),
        } as PgClient
      },
      end: async () => {},
    }
    const broker = instance(t, { prefix: own, pool, sweepIntervalMs: 5 })
    await eventually(async () => (deletes.length === 1 ? undefined : Promise.reject()))
    // Its timer fires ten more times (timers run in order of their due time) while the first
    // sweep waits.
    await sleep(50)
    t.equal(deletes.length, 1, 'one sweep at a time')
    release()
    await eventually(async () => (deletes.length >= 2 ? undefined : Promise.reject()))
    t.pass('the next sweep runs once the slow one is done')
    await broker.close()
  })

  t.test('options are checked', async (t) => {
    const bad = (options: Partial<PostgresBrokerOptions>) => () =>
      new PostgresBroker({ pool: admin, ...options })
    t.throws(bad({ retentionMs: 0 }), /option retentionMs must be a positive integer/)
    t.throws(bad({ sweepIntervalMs: 1.5 }), /option sweepIntervalMs must be a positive integer/)
    t.throws(bad({ sweepIntervalMs: true as never }), /sweepIntervalMs/)
    t.throws(bad({ maxPayloadBytes: -1 }), /option maxPayloadBytes must be a positive integer/)
    t.throws(bad({ schema: 'no-dash' }), /option schema must be letters, digits and _/)
    t.throws(bad({ clock: {} as never }), /option clock must be an object with a now\(\) method/)
  })

  t.test('what cannot be fetched is reported with its topic; the rest goes on', async (t) => {
    const own = `${randomName('f')}_`
    await migrate({ pool: admin, schema, prefix: own })
    const publisher = instance(t, { prefix: own })
    const log: Statement[] = []
    const { pool: held, control } = holding(pgPool(), log)
    t.teardown(() => held.end())
    const errors: [unknown, string | undefined][] = []
    const listener = instance(t, {
      prefix: own,
      pool: held,
      onError: (error, topic) => errors.push([error, topic]),
    })
    const { got, handler } = inbox()
    await listener.subscribe('lost', handler)

    // Swept before the listener read it.
    control.hold = true
    await publisher.publish('lost', 'a'.repeat(8000))
    await publisher.publish('lost', 'next')
    await eventually(async () => (control.held === 2 ? undefined : Promise.reject()))
    t.equal(await publisher.sweep(Date.now() + 1), 1)
    control.release()
    await holds(got, 1)
    t.same(got, ['next'])
    t.match(errors[0], [{ message: /payload \d+ is gone \(older than retentionMs\?\)/ }, 'lost'])
    t.equal(errors.length, 1)

    // Not a NOTIFY of a broker.
    await admin.query('SELECT pg_notify($1, $2)', [listener.channel('lost'), '\u0001not-an-id'])
    await publisher.publish('lost', 'then')
    await holds(got, 2)
    t.match(errors[1], [{ message: /malformed NOTIFY/ }, 'lost'])

    // The fetch itself fails: the table is gone.
    await admin.query(`ALTER TABLE "${schema}"."${own}broker_payloads" RENAME TO "${own}moved"`)
    control.hold = true
    await admin.query(
      `INSERT INTO "${schema}"."${own}moved" (created_at, payload) VALUES (0, 'never read')`,
    )
    await admin.query('SELECT pg_notify($1, $2)', [listener.channel('lost'), '\u00011'])
    await publisher.publish('lost', 'last')
    await eventually(async () => (control.held === 2 ? undefined : Promise.reject()))
    control.release()
    await holds(got, 3)
    t.same(got, ['next', 'then', 'last'])
    t.match(errors[2], [{ message: /needs the table/, cause: { code: '42P01' } }, 'lost'])
    t.equal(errors.length, 3)
  })

  t.test('unsubscribed while waiting behind a stored payload: not delivered', async (t) => {
    const publisher = instance(t)
    const { pool: held, control } = holding(pgPool())
    t.teardown(() => held.end())
    const listener = instance(t, { pool: held })
    const [gone, stays] = [inbox(), inbox()]
    const off = await listener.subscribe('leaving', gone.handler)
    await listener.subscribe('staying', stays.handler)
    control.hold = true
    await publisher.publish('leaving', 'l'.repeat(8000))
    await publisher.publish('leaving', 'small')
    await publisher.publish('staying', 's'.repeat(8000))
    await eventually(async () => (control.held === 3 ? undefined : Promise.reject()))
    control.release()
    const unlistened = off()
    await holds(stays.got, 1)
    await unlistened
    t.same(gone.got, [], 'neither the stored one nor the one behind it')
    t.same(stays.got, ['s'.repeat(8000)])

    // A notification that crossed the UNLISTEN of its last subscriber.
    const late = inbox()
    const offLate = await listener.subscribe('late', late.handler)
    control.hold = true
    await publisher.publish('late', 'crossed')
    await eventually(async () => (control.held === 1 ? undefined : Promise.reject()))
    await offLate()
    control.release()
    await publisher.publish('staying', 'marker')
    await holds(stays.got, 2)
    t.same(late.got, [])
  })

  t.test('closed while fetching: nothing more is delivered', async (t) => {
    const publisher = instance(t)
    const { pool: held, control } = holding(pgPool())
    t.teardown(() => held.end())
    const listener = new PostgresBroker({ pool: held, schema, prefix })
    const { got, handler } = inbox()
    await listener.subscribe('closing', handler)
    let open!: () => void
    control.stall = new Promise((resolve) => (open = resolve))
    await publisher.publish('closing', 'c'.repeat(8000))
    await publisher.publish('closing', 'behind it')
    await eventually(async () =>
      control.log.some((s) => s.sql.includes('= ANY')) ? undefined : Promise.reject(),
    )
    await listener.close()
    open()
    await eventually(async () => (control.fetched === 1 ? undefined : Promise.reject()))
    t.same(got, [], 'the fetched payload and the one behind it were dropped')
  })
}
