import t from 'tap'
import type { Test } from 'tap'
import { createServer } from 'node:http'
import { StoreUnavailableError, handleUpgrade } from '@ws-warden/core'
import { MemorySessionStore, MemoryTokenStore } from '@ws-warden/core/stores'
import type { Warden } from '@ws-warden/core'
import { listen, open, testWarden, tokenFor, type Client } from '@ws-warden/testing'
import { WebSocketServer } from 'ws'
import { NatsBroker, NatsPayloadTooLargeError } from '../src/index.js'
import { NATS_URL, Proxy, randomPrefix, sharedNats, sleep, until } from './helpers/nats.js'

// Two wardens in one process, each with a broker (and connection) of its own, sharing memory
// sessions and tokens: the NATS broker works with any store set.

const nats = await sharedNats(t)

interface Instance {
  readonly warden: Warden
  readonly url: string
  /** What the broker reported (disconnects among them). */
  readonly errors: unknown[]
}

async function instance(
  t: Test,
  prefix: string,
  shared: { sessions: MemorySessionStore; tokens: MemoryTokenStore },
  servers = NATS_URL,
): Promise<Instance> {
  const errors: unknown[] = []
  const broker = new NatsBroker({
    servers,
    prefix,
    connectOptions: { reconnectTimeWait: 50 },
    onError: (error) => errors.push(error),
  })
  t.teardown(() => broker.close())
  const warden = testWarden(t, { stores: { ...shared, broker } })
  await warden.ready()
  const wss = new WebSocketServer({ noServer: true })
  const server = createServer()
  server.on('upgrade', (request, socket, head) => {
    void handleUpgrade(warden, wss, request, socket, head)
  })
  return { warden, url: `${await listen(t, server)}/ws`, errors }
}

async function client(t: Test, at: Instance, user: string): Promise<Client> {
  const opened = await open(t, `${at.url}?ws_token=${await tokenFor(at.warden, user)}`)
  t.equal(opened.status, 101, `${user} is connected`)
  return opened
}

if (nats !== undefined) {
  t.test('two wardens over two brokers act as one', async (t) => {
    const prefix = randomPrefix()
    const shared = { sessions: new MemorySessionStore(), tokens: new MemoryTokenStore() }
    const [a, b] = [await instance(t, prefix, shared), await instance(t, prefix, shared)]
    const alice = await client(t, a, 'alice')
    const bob = await client(t, b, 'bob')
    const carol = await client(t, b, 'carol')
    await a.warden.join(a.warden.connectionsOf('alice').values().next().value!, 'room')
    await b.warden.join(b.warden.connectionsOf('bob').values().next().value!, 'room')

    t.equal(await a.warden.toChannel('room', { type: 'say', text: 'hi room' }), 1, 'one local')
    for (const member of [alice, bob]) {
      await member.next((m) => m.type === 'say' && m.text === 'hi room')
    }
    await b.warden.toUser('alice', { type: 'dm', text: 'for alice' })
    await alice.next((m) => m.type === 'dm')
    await a.warden.broadcast({ type: 'all', text: 'everyone' })
    for (const member of [alice, bob, carol]) await member.next((m) => m.type === 'all')
    t.same(
      carol.messages.map((m) => m.type),
      ['all'],
      'carol is in no channel: only the broadcast reached her',
    )
  })

  t.test('deployments with different prefixes share nothing', async (t) => {
    const shared = { sessions: new MemorySessionStore(), tokens: new MemoryTokenStore() }
    const a = await instance(t, randomPrefix(), shared)
    const b = await instance(t, randomPrefix(), shared)
    const bob = await client(t, b, 'bob')
    await a.warden.broadcast({ type: 'all', text: 'not for b' })
    await b.warden.broadcast({ type: 'all', text: 'fence' })
    await bob.next((m) => m.text === 'fence')
    await sleep(50)
    t.same(
      bob.messages.map((m) => m.text),
      ['fence'],
    )
  })

  t.test(
    'a fan-out over max_payload: a clear error, no other instance gets any of it',
    async (t) => {
      const prefix = randomPrefix()
      const shared = { sessions: new MemorySessionStore(), tokens: new MemoryTokenStore() }
      const [a, b] = [await instance(t, prefix, shared), await instance(t, prefix, shared)]
      const bob = await client(t, b, 'bob')
      const big = 'x'.repeat(nats.info!.max_payload)
      const error = await a.warden.broadcast({ type: 'big', text: big }).then(
        () => undefined,
        (error: unknown) => error,
      )
      t.ok(error instanceof StoreUnavailableError, 'the fan-out rejects with the store error')
      t.ok((error as Error).cause instanceof NatsPayloadTooLargeError, 'caused by the payload size')
      await a.warden.broadcast({ type: 'fence' })
      await bob.next((m) => m.type === 'fence')
      t.same(
        bob.messages.map((m) => m.type),
        ['fence'],
        'the other instance got nothing of it',
      )
    },
  )

  t.test('an instance whose connection drops catches up once it is back', async (t) => {
    const prefix = randomPrefix()
    const shared = { sessions: new MemorySessionStore(), tokens: new MemoryTokenStore() }
    const proxy = await Proxy.start(t)
    const a = await instance(t, prefix, shared)
    const b = await instance(t, prefix, shared, proxy.url)
    const alice = await client(t, a, 'alice')
    const bob = await client(t, b, 'bob')
    await a.warden.join(a.warden.connectionsOf('alice').values().next().value!, 'room')
    await b.warden.join(b.warden.connectionsOf('bob').values().next().value!, 'room')
    proxy.cut()
    await until(() => b.errors.some((e) => /disconnected/.test(String(e))), 'the disconnect')
    await t.rejects(
      b.warden.toChannel('room', { type: 'during' }),
      { name: 'StoreUnavailableError', store: 'broker' },
      'a fan-out from the cut-off instance fails, and says so',
    )
    proxy.restore()
    // A's broadcasts reach B again once its subscriptions are back (bounded retries).
    await until(async () => {
      await a.warden.broadcast({ type: 'back' })
      await sleep(20)
      return bob.messages.some((m) => m.type === 'back')
    }, 'a broadcast from A on B after the reconnect')
    await b.warden.toChannel('room', { type: 'after' })
    await alice.next((m) => m.type === 'after')
    // Had the failed fan-out been queued for the reconnect, it would have arrived before 'after'.
    t.same(
      alice.messages.filter((m) => m.type !== 'back').map((m) => m.type),
      ['after'],
      'the failed fan-out never reached the other instance, not even late',
    )
    await bob.next((m) => m.type === 'after')
    t.notOk(
      bob.messages.some((m) => m.type === 'during'),
      'nor its own instance: a failed fan-out is delivered nowhere',
    )
  })
}
