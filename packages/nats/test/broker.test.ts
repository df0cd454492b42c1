import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { StoreUnavailableError } from '@ws-warden/core'
import { connect } from '@nats-io/transport-node'
import { NatsBroker, NatsPayloadTooLargeError, encodeTopic } from '../src/index.js'
import {
  NATS_URL,
  Proxy,
  freePort,
  randomPrefix,
  sharedNats,
  sleep,
  until,
} from './helpers/nats.js'

const nats = await sharedNats(t)

if (nats !== undefined) {
  const prefix = randomPrefix()
  const raw = (topic: string) => `${prefix}.topic.${encodeTopic(topic)}`

  t.test('by default: the local server and the prefix ws_warden', async (t) => {
    const broker = new NatsBroker()
    t.teardown(() => broker.close())
    const topic = `default-${prefix}`
    const got: string[] = []
    const subscription = nats.subscribe(`ws_warden.topic.${topic}`, {
      callback: (_error, message) => void got.push(message.string()),
    })
    t.teardown(() => subscription.unsubscribe())
    await nats.flush()
    await broker.publish(topic, 'hello')
    await until(() => got.length === 1, 'the delivery')
    t.same(got, ['hello'])
  })

  t.test('topics are subjects under the prefix, encoded', async (t) => {
    const broker = new NatsBroker({ servers: NATS_URL, prefix })
    t.teardown(() => broker.close())
    const got: string[] = []
    await broker.subscribe('user:a.b c', (payload) => got.push(payload))
    nats.publish(`${prefix}.topic.user:a%2Eb%20c`, 'raw')
    await until(() => got.length === 1, 'the delivery')
    t.same(got, ['raw'])
  })

  t.test('wildcard-looking topics are topics like any other', async (t) => {
    const broker = new NatsBroker({ servers: NATS_URL, prefix })
    t.teardown(() => broker.close())
    const inboxes = new Map<string, string[]>()
    const topics = ['*', '>', 'channel:*', 'channel:>', 'channel:a', 'channel:a.b', 'channel:a b']
    for (const topic of topics) {
      const inbox: string[] = []
      inboxes.set(topic, inbox)
      await broker.subscribe(topic, (payload) => inbox.push(payload))
    }
    for (const topic of topics) await broker.publish(topic, `for ${topic}`)
    await until(() => [...inboxes.values()].every((inbox) => inbox.length >= 1), 'every topic')
    await broker.publish('fence', 'x')
    await sleep(50)
    for (const [topic, inbox] of inboxes)
      t.same(inbox, [`for ${topic}`], `${topic} got its own only`)
  })

  t.test('concurrent subscribes to one topic share one NATS subscription', async (t) => {
    const broker = new NatsBroker({ servers: NATS_URL, prefix })
    t.teardown(() => broker.close())
    const inboxes: string[][] = [[], [], []]
    await Promise.all(inboxes.map((inbox) => broker.subscribe('shared', (p) => inbox.push(p))))
    nats.publish(raw('shared'), 'x')
    // Order holds per connection only: 'x' must reach the server before the broker's fence.
    await nats.flush()
    await broker.publish('shared', 'fence')
    await until(() => inboxes.every((inbox) => inbox.includes('fence')), 'the fence')
    t.same(inboxes, [
      ['x', 'fence'],
      ['x', 'fence'],
      ['x', 'fence'],
    ])
  })

  t.test('a throwing handler is reported with its topic; the others still run', async (t) => {
    const errors: [unknown, string | undefined][] = []
    const broker = new NatsBroker({
      connection: nats,
      prefix,
      onError: (error, topic) => {
        errors.push([error, topic])
        throw new Error('and onError throws too')
      },
    })
    t.teardown(() => broker.close())
    const got: string[] = []
    await broker.subscribe('boom', () => {
      throw new Error('handler failed')
    })
    await broker.subscribe('boom', (payload) => got.push(payload))
    await broker.publish('boom', 'p')
    await until(() => got.length === 1, 'the second handler')
    t.equal(errors.length, 1)
    t.match(errors[0], [{ message: 'handler failed' }, 'boom'])
  })

  t.test('the last unsubscribe of a topic ends the interest at the server', async (t) => {
    const broker = new NatsBroker({ connection: nats, prefix })
    t.teardown(() => broker.close())
    const first = await broker.subscribe('interest', () => {})
    const second = await broker.subscribe('interest', () => {})
    await first()
    // A request to a subject nobody subscribes fails at once with "no responders".
    await t.rejects(nats.request(raw('interest'), '', { timeout: 300 }), /timeout|TIMEOUT/i)
    await second()
    await t.rejects(nats.request(raw('interest'), '', { timeout: 5000 }), /no responders/i)
  })

  t.test('an unsubscribe during a delivery takes effect at once', async (t) => {
    const broker = new NatsBroker({ connection: nats, prefix })
    t.teardown(() => broker.close())
    const got: string[] = []
    let unsubscribeSecond = async (): Promise<void> => {}
    await broker.subscribe('during', (payload) => {
      got.push(`first:${payload}`)
      void unsubscribeSecond()
    })
    unsubscribeSecond = await broker.subscribe('during', (payload) => got.push(`second:${payload}`))
    await broker.publish('during', 'a')
    await broker.publish('during', 'b')
    await until(() => got.length === 2, 'both deliveries to the first')
    t.same(got, ['first:a', 'first:b'])
  })

  t.test(
    'payloads up to max_payload cross whole; one byte more is refused, nothing sent',
    async (t) => {
      const broker = new NatsBroker({ servers: NATS_URL, prefix })
      t.teardown(() => broker.close())
      await broker.ready()
      const max = nats.info!.max_payload
      const got: string[] = []
      await broker.subscribe('big', (payload) => got.push(payload))
      // Multi-byte characters: the limit is in UTF-8 bytes, not in string length.
      const fits = 'é'.repeat(max / 2)
      await broker.publish('big', fits)
      const error = await broker.publish('big', `${fits}x`).then(
        () => undefined,
        (error: unknown) => error,
      )
      t.ok(error instanceof NatsPayloadTooLargeError, 'a typed error')
      t.match(error, {
        code: 'nats_payload_too_large',
        bytes: max + 1,
        maxPayload: max,
        message: /1048577-byte payload on topic "big" exceeds the NATS server's max_payload/,
      })
      await broker.publish('big', 'fence')
      await until(() => got.includes('fence'), 'the fence')
      t.equal(got.length, 2, 'the refused payload never arrived, in part or whole')
      t.equal(got[0], fits, 'the largest payload arrived unchanged')
    },
  )

  t.test('close drains: what was published before is delivered', async (t) => {
    const listener = new NatsBroker({ connection: nats, prefix })
    t.teardown(() => listener.close())
    const got: string[] = []
    await listener.subscribe('drain', (payload) => got.push(payload))
    const broker = new NatsBroker({ servers: NATS_URL, prefix })
    await broker.ready()
    const published = Array.from({ length: 100 }, (_, n) => broker.publish('drain', `${n}`))
    await broker.close()
    await Promise.allSettled(published)
    await until(() => got.length === 100, 'every payload')
    await t.rejects(broker.publish('drain', 'late'), { message: /closed/ })
    await t.rejects(
      broker.subscribe('drain', () => {}),
      { message: /closed/ },
    )
    await t.rejects(broker.ready(), { message: /closed/ })
    await broker.close()
  })

  t.test('close with a given connection ends its subscriptions and leaves it open', async (t) => {
    const broker = new NatsBroker({ connection: nats, prefix })
    const got: string[] = []
    const unsubscribe = await broker.subscribe('given', (payload) => got.push(payload))
    await broker.close()
    await unsubscribe()
    t.equal(nats.isClosed(), false, 'the connection stays open')
    const listener = new NatsBroker({ connection: nats, prefix })
    t.teardown(() => listener.close())
    const witness: string[] = []
    await listener.subscribe('given', (payload) => witness.push(payload))
    nats.publish(raw('given'), 'late')
    await until(() => witness.length === 1, 'the witness')
    t.same(got, [])
  })

  t.test('unreachable NATS: ready, subscribe and publish reject within timeoutMs', async (t) => {
    const errors: unknown[] = []
    const broker = new NatsBroker({
      servers: `nats://127.0.0.1:${await freePort()}`,
      prefix,
      timeoutMs: 200,
      onError: (error) => errors.push(error),
    })
    t.teardown(() => broker.close())
    for (const [what, call] of [
      ['ready', () => broker.ready()],
      ['subscribe', async () => void (await broker.subscribe('nowhere', () => {}))],
      ['publish', () => broker.publish('nowhere', 'x')],
    ] as const) {
      await t.rejects(
        call(),
        { name: 'StoreUnavailableError', store: 'broker', message: /not connected within 200 ms/ },
        what,
      )
    }
    await until(() => errors.length > 0, 'a connect error reported')
  })

  t.test('an awaited ready() settles even when nothing else holds the process', async (t) => {
    const fixture = fileURLToPath(new URL('fixtures/ready-down.ts', import.meta.url))
    const child = spawn(process.execPath, [...process.execArgv, fixture, String(await freePort())])
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    const [code] = (await once(child, 'exit')) as [number | null]
    t.equal(code, 0, 'the process ends normally (not 13: a top-level await left unsettled)')
    t.match(out, /rejected: ws-warden: NATS was not connected within 300 ms/)
  })

  t.test('a broker that connects late: waiting calls go through once it is up', async (t) => {
    const proxy = await Proxy.start(t)
    proxy.cut()
    const broker = new NatsBroker({ servers: proxy.url, prefix, timeoutMs: 5000 })
    t.teardown(() => broker.close())
    const got: string[] = []
    const subscribed = broker.subscribe('late', (payload) => got.push(payload))
    await sleep(300)
    proxy.restore()
    await subscribed
    await broker.publish('late', 'hello')
    await until(() => got.length === 1, 'the delivery')
  })

  t.test('closed before the first connect: nothing is left running', async (t) => {
    const proxy = await Proxy.start(t)
    proxy.cut()
    const broker = new NatsBroker({ servers: proxy.url, prefix, timeoutMs: 100 })
    const pending = broker.ready()
    await broker.close()
    await t.rejects(pending, { message: /closed/ })
    proxy.restore()
  })

  t.test('closed while connecting: the connection that arrives is closed', async (t) => {
    const proxy = await Proxy.start(t)
    const broker = new NatsBroker({ servers: proxy.url, prefix })
    await broker.close()
    await until(() => proxy.connections === 0 && proxy.accepted === 1, 'the connection closed')
  })

  t.test('close while disconnected gives up draining after timeoutMs', async (t) => {
    const proxy = await Proxy.start(t)
    const errors: unknown[] = []
    const broker = new NatsBroker({
      servers: proxy.url,
      prefix,
      timeoutMs: 200,
      onError: (error) => errors.push(error),
    })
    await broker.ready()
    proxy.cut()
    await until(() => errors.length > 0, 'the disconnect')
    await broker.close()
    t.match(errors.at(-1), { message: /NATS did not drain within 200 ms/ })
  })

  t.test('a dropped connection: publish fails fast, subscriptions come back', async (t) => {
    const proxy = await Proxy.start(t)
    const errors: unknown[] = []
    const broker = new NatsBroker({
      servers: proxy.url,
      prefix,
      timeoutMs: 300,
      connectOptions: { reconnectTimeWait: 50 },
      onError: (error) => errors.push(error),
    })
    t.teardown(() => broker.close())
    const got: string[] = []
    await broker.subscribe('survivor', (payload) => got.push(payload))
    proxy.cut()
    await until(() => errors.some((e) => /disconnected/.test(String(e))), 'the disconnect')
    const error = await broker.publish('survivor', 'lost').then(
      () => undefined,
      (error: unknown) => error,
    )
    t.ok(error instanceof StoreUnavailableError, 'a StoreUnavailableError')
    // At once: "disconnected", not a timeout's "... within 300 ms" (no wall-clock bound).
    t.match(error, { store: 'broker', message: /disconnected/ })
    await t.rejects(
      broker.subscribe('other', () => {}),
      { message: /not connected within 300 ms/ },
      'a subscribe waits at most timeoutMs',
    )
    proxy.restore()
    await until(
      async () =>
        broker.ready().then(
          () => true,
          () => false,
        ),
      'the reconnect',
    )
    nats.publish(raw('survivor'), 'after')
    await until(() => got.length === 1, 'a delivery on the restored subscription')
    t.same(got, ['after'], 'the payload published while down was never sent')
  })

  t.test('a forced reconnect of a given connection keeps the subscriptions', async (t) => {
    const connection = await connect({ servers: NATS_URL, reconnectTimeWait: 50 })
    t.teardown(() => connection.close())
    const broker = new NatsBroker({ connection, prefix })
    t.teardown(() => broker.close())
    const got: string[] = []
    await broker.subscribe('forced', (payload) => got.push(payload))
    await connection.reconnect()
    await until(async () => {
      nats.publish(raw('forced'), 'ping')
      await nats.flush()
      await sleep(20)
      return got.length > 0
    }, 'a delivery after the reconnect')
    t.ok(got.every((payload) => payload === 'ping'))
  })

  t.test('a given connection closed by its owner: every call rejects', async (t) => {
    const connection = await connect({ servers: NATS_URL })
    const errors: unknown[] = []
    const broker = new NatsBroker({ connection, prefix, onError: (e) => errors.push(e) })
    t.teardown(() => broker.close())
    await connection.close()
    await until(() => errors.length > 0, 'the close reported')
    t.match(errors[0], { message: /connection was closed/ })
    await t.rejects(broker.publish('x', 'y'), { message: /connection is closed/ })
    await t.rejects(
      broker.subscribe('x', () => {}),
      { message: /connection is closed/ },
    )
    await t.rejects(broker.ready(), { message: /connection is closed/ })
  })

  t.test(
    'a given connection closed while reconnecting: waiting calls reject at once',
    async (t) => {
      const proxy = await Proxy.start(t)
      const connection = await connect({ servers: proxy.url, reconnectTimeWait: 50 })
      const errors: unknown[] = []
      const broker = new NatsBroker({
        connection,
        prefix,
        timeoutMs: 60_000,
        onError: (e) => errors.push(e),
      })
      t.teardown(() => broker.close())
      proxy.cut()
      await until(() => errors.length > 0, 'the disconnect')
      const waiting = broker.ready()
      const subscribing = broker.subscribe('x', () => {})
      await connection.close()
      await t.rejects(waiting, { name: 'StoreUnavailableError', message: /connection is closed/ })
      await t.rejects(subscribing, { message: /connection is closed/ })
    },
  )

  t.test('options are checked at construction, naming the option', async (t) => {
    const cases: [unknown, RegExp][] = [
      [null, /options must be an object/],
      [{ prefix: 'a b' }, /option prefix/],
      [{ timeoutMs: 0 }, /option timeoutMs must be a positive integer/],
      [{ onError: 'no' }, /option onError must be a function/],
      [{ servers: [] }, /option servers must be non-empty strings/],
      [{ servers: [''] }, /option servers/],
      [{ connection: {} }, /option connection must be a NatsConnection/],
      [{ connection: nats, servers: NATS_URL }, /a connection or servers/],
    ]
    for (const [options, message] of cases) {
      t.throws(() => new NatsBroker(options as never), { name: 'TypeError', message }, `${message}`)
    }
    const broker = new NatsBroker({ connection: nats, prefix })
    t.teardown(() => broker.close())
    await t.rejects(broker.publish(7 as never, 'x'), TypeError)
    await t.rejects(
      broker.subscribe(7 as never, () => {}),
      TypeError,
    )
    await t.rejects(broker.subscribe('t', 'no' as never), TypeError)
  })
}
