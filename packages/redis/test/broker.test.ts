import t from 'tap'
import { Redis } from 'ioredis'
import { RedisBroker } from '../src/index.js'
import { REDIS_URL, freePort, randomPrefix, sharedRedis, until } from './helpers/redis.js'

const client = await sharedRedis(t)

if (client !== undefined) {
  const prefix = randomPrefix()

  t.test('topics are channels under the prefix', async (t) => {
    const broker = new RedisBroker({ client, prefix })
    t.teardown(() => broker.close())
    const got: string[] = []
    await broker.subscribe('user:42', (payload) => got.push(payload))
    t.equal(await client.publish(`${prefix}:topic:user:42`, 'raw'), 1, 'one subscriber connection')
    await until(() => got.length === 1, 'the delivery')
    t.same(got, ['raw'])
  })

  t.test('concurrent subscribes to one topic share one Redis subscription', async (t) => {
    const broker = new RedisBroker({ client, prefix })
    t.teardown(() => broker.close())
    const inboxes: string[][] = [[], [], []]
    await Promise.all(inboxes.map((inbox) => broker.subscribe('shared', (p) => inbox.push(p))))
    t.equal(await client.publish(`${prefix}:topic:shared`, 'x'), 1)
    await broker.publish('shared', 'fence')
    await until(() => inboxes.every((inbox) => inbox.includes('fence')), 'the fence')
    t.same(inboxes, [
      ['x', 'fence'],
      ['x', 'fence'],
      ['x', 'fence'],
    ])
  })

  t.test('a burst of (un)subscribes goes as few commands as it can, in order', async (t) => {
    const own = new Redis(REDIS_URL)
    const commands: string[] = []
    const duplicate = own.duplicate.bind(own)
    own.duplicate = ((...args: Parameters<Redis['duplicate']>) => {
      const subscriber = duplicate(...args)
      const sendCommand = subscriber.sendCommand.bind(subscriber)
      subscriber.sendCommand = ((command: { name: string; args: unknown[] }) => {
        commands.push(`${command.name} ${command.args.length}`)
        return sendCommand(command as never)
      }) as typeof subscriber.sendCommand
      return subscriber
    }) as typeof own.duplicate
    const broker = new RedisBroker({ client: own, prefix })
    t.teardown(async () => {
      await broker.close()
      own.disconnect()
    })
    await broker.subscribe('warm', () => undefined) // the subscriber is connected
    commands.length = 0
    const topics = Array.from({ length: 30 }, (_, i) => `burst:${i}`)
    const inboxes = topics.map((): string[] => [])
    const offs = await Promise.all(
      topics.map((topic, i) => broker.subscribe(topic, (p) => inboxes[i]!.push(p))),
    )
    t.same(commands, ['subscribe 30'], 'one SUBSCRIBE of every channel')
    for (const topic of topics) await broker.publish(topic, topic)
    await until(() => inboxes.every((inbox) => inbox.length === 1), 'every delivery')
    t.same(inboxes.flat(), topics)
    // Off and on again in one burst: the last word wins, in call order.
    commands.length = 0
    const again: string[] = []
    await Promise.all(offs.map((off) => off()))
    await broker.subscribe('burst:0', (p) => again.push(p))
    await until(() => commands.length === 2, 'both commands')
    t.same(commands, ['unsubscribe 30', 'subscribe 1'])
    t.equal(await own.publish(`${prefix}:topic:burst:0`, 'back'), 1)
    t.equal(await own.publish(`${prefix}:topic:burst:1`, 'gone'), 0)
    await until(() => again.length === 1, 'the delivery')
    t.same(again, ['back'])
  })

  t.test("a SUBSCRIBE refused for one channel fails only that channel's subscribe", async (t) => {
    const user = `wsw_${randomPrefix()}`
    await client.call('ACL', 'SETUSER', user, 'on', 'nopass', '~*', '+@all', `&${prefix}:topic:ok*`)
    t.teardown(() => client.call('ACL', 'DELUSER', user))
    const own = new Redis(REDIS_URL, { username: user, password: 'unused' })
    const broker = new RedisBroker({ client: own, prefix })
    t.teardown(async () => {
      await broker.close()
      own.disconnect()
    })
    const got: string[] = []
    await broker.subscribe('ok:1', (p) => got.push(p))
    const [allowed, denied] = await Promise.allSettled([
      broker.subscribe('ok:2', (p) => got.push(p)),
      broker.subscribe('denied', (p) => got.push(p)),
    ])
    t.match(allowed, { status: 'fulfilled' }, 'sent with the denied one, then again alone')
    t.match(denied, { status: 'rejected', reason: { message: /NOPERM/ } })
    await t.rejects(
      broker.subscribe('denied:alone', () => undefined),
      /NOPERM/,
      'alone too',
    )
    await own.publish(`${prefix}:topic:ok:1`, 'one')
    await own.publish(`${prefix}:topic:ok:2`, 'two')
    await until(() => got.length === 2, 'both deliveries')
    t.same(got.sort(), ['one', 'two'])
  })

  t.test('an unsubscribe racing close is dropped, not reported', async (t) => {
    const errors: unknown[] = []
    const broker = new RedisBroker({ client, prefix, onError: (error) => errors.push(error) })
    const off = await broker.subscribe('racing', () => undefined)
    // The unsubscribe waits for its batch, which runs once close has begun.
    await Promise.all([off(), broker.close()])
    await broker.publish('racing', 'after close') // the publishing client stays open
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.same(errors, [])
  })

  t.test('a throwing handler is reported with its topic; the others still run', async (t) => {
    const errors: [unknown, string | undefined][] = []
    const broker = new RedisBroker({
      client,
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

  t.test('an unsubscribe during a delivery takes effect at once', async (t) => {
    const broker = new RedisBroker({ client, prefix })
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

  t.test('close ends every subscription and its own connection only', async (t) => {
    const broker = new RedisBroker({ client, prefix })
    const got: string[] = []
    const unsubscribe = await broker.subscribe('closing', (payload) => got.push(payload))
    await broker.close()
    await unsubscribe()
    t.equal(client.status, 'ready', 'the given client stays open')
    const listeners = async () => client.publish(`${prefix}:topic:closing`, 'late')
    await until(async () => (await listeners()) === 0, 'the subscriber connection to go')
    t.same(got, [])
    await t.rejects(
      broker.subscribe('closing', () => {}),
      { message: /closed/ },
    )
  })

  t.test('a lazy client: the subscriber connects on the first subscribe', async (t) => {
    const lazy = new Redis(REDIS_URL, { lazyConnect: true })
    t.teardown(() => void lazy.disconnect())
    const broker = new RedisBroker({ client: lazy, prefix })
    t.teardown(() => broker.close())
    const got: string[] = []
    await broker.subscribe('lazy', (payload) => got.push(payload))
    await broker.publish('lazy', 'hello')
    await until(() => got.length === 1, 'the delivery')
  })

  t.test('subscribe rejects within timeoutMs when Redis is unreachable', async (t) => {
    const errors: unknown[] = []
    const down = new Redis(await freePort(), '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    })
    down.on('error', () => {})
    t.teardown(() => void down.disconnect())
    const broker = new RedisBroker({
      client: down,
      prefix,
      timeoutMs: 200,
      onError: (e) => errors.push(e),
    })
    t.teardown(() => broker.close())
    await t.rejects(
      broker.subscribe('nowhere', () => {}),
      { message: /not ready within 200 ms/ },
    )
    await t.rejects(
      broker.subscribe('nowhere', () => {}),
      { message: /not ready/ },
      'again',
    )
    t.ok(errors.length > 0, 'connection errors are reported')
    const quiet = new RedisBroker({ client: down, prefix, timeoutMs: 200 })
    t.teardown(() => quiet.close())
    await t.rejects(
      quiet.subscribe('nowhere', () => {}),
      'without onError too',
    )
  })
}
