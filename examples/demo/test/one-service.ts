/**
 * DEMO-CONTRACT.md: "Several demo processes started with the same store, the same `WARDEN_PREFIX`
 * and `WARDEN_TOKEN_SECRET`, and different `PORT`s behave as one service; processes with
 * different prefixes share nothing." Run against a real shared store by each store's test.
 *
 * No assertion depends on timing: absence is shown by order (a later message of the same
 * service arrives, so an earlier one would have), every wait is bounded.
 */
import type { Test } from 'tap'
import type { Envelope, ResumedEvent, WebSocketConstructor } from '@ws-warden/client'
import { WardenClient } from '@ws-warden/client'
import { isDeepStrictEqual } from 'node:util'
import WebSocket from 'ws'
import type { Adapter } from '../src/config.js'
import type { Client } from './helpers.js'
import { clientsOf, SECRET, unpositioned, until } from './helpers.js'
import type { DemoProcess } from './processes.js'
import { listening, run, stop, within } from './processes.js'
import { uniquePrefix } from './services.js'

export interface OneServiceOptions {
  /** `WARDEN_STORE` and its URL variables. */
  readonly env: Readonly<Record<string, string>>
  /** The adapters of the two processes: one service may mix them. */
  readonly adapters: readonly [Adapter, Adapter]
  /** Removes everything written under a prefix (after the processes stopped). */
  clean(prefix: string): Promise<unknown>
}

interface Stats {
  connections: number
  users: number
  channels: Record<string, number>
}

type Clients = ReturnType<typeof clientsOf>

const said = (text: string) => (m: Record<string, unknown>) =>
  m.type === 'message' && m.text === text
const count = (client: Client, text: string) => client.messages.filter(said(text)).length

async function stats(clients: Clients): Promise<Stats> {
  return (await (await clients.http('/api/stats')).json()) as Stats
}

/** Waits (bounded) until a process's /api/stats is `expected`, then asserts it. */
async function statsBecome(
  t: Test,
  clients: Clients,
  expected: Stats,
  message: string,
  timeoutMs = 10_000,
): Promise<void> {
  const matches = async () => isDeepStrictEqual(await stats(clients), expected)
  await until(matches, timeoutMs).catch(() => {}) // the assertion below shows what it was
  t.same(await stats(clients), expected, message)
}

/** Joins a channel and waits for the answer. */
async function join(client: Client, channel: string): Promise<void> {
  await client.request({ type: 'join', channel }, 'joined')
}

export async function behavesAsOneService(t: Test, options: OneServiceOptions): Promise<void> {
  const prefix = uniquePrefix()
  const otherPrefix = uniquePrefix()
  t.teardown(async () => {
    await options.clean(prefix)
    await options.clean(otherPrefix)
  })
  const common = {
    ...options.env,
    WARDEN_PREFIX: prefix,
    WARDEN_TOKEN_SECRET: SECRET,
    // Short heartbeats, so a crashed process's connections are stale within seconds.
    WARDEN_HEARTBEAT_INTERVAL_MS: '1000',
    WARDEN_HEARTBEAT_TIMEOUT_MS: '500',
    // The connect rate limit is shared too; these tests are not about it.
    WARDEN_CONNECT_LIMIT: '1000',
  }
  const [adapterA, adapterB] = options.adapters
  // A sweeps often; B never gets to, so it cannot hold the sweep lock when it is killed.
  const a = run(t, { ...common, WARDEN_ADAPTER: adapterA, WARDEN_SWEEP_INTERVAL_MS: '200' })
  const b = run(t, { ...common, WARDEN_ADAPTER: adapterB, WARDEN_SWEEP_INTERVAL_MS: '3600000' })
  // Another service on the same store and secret: only the prefix differs.
  const c = run(t, { ...common, WARDEN_PREFIX: otherPrefix, WARDEN_ADAPTER: adapterA })
  const [baseA, baseB, baseC] = await Promise.all([a, b, c].map((demo) => listening(demo)))
  t.not(baseA, baseB, 'two ports')
  /** Browsers against the three processes, closed when the subtest ends. */
  const browsers = (t: Test) => [baseA, baseB, baseC].map((base) => clientsOf(t, base as string))

  await t.test('a message said on one reaches the channel on both, once', async (t) => {
    const [A, B] = browsers(t) as [Clients, Clients]
    const alice = await A.connect('alice')
    const bob = await B.connect('bob')
    await join(alice, 'general')
    await join(bob, 'general')
    alice.send({ type: 'say', channel: 'general', text: 'hello from a' })
    const fromA = { type: 'message', channel: 'general', from: 'alice', text: 'hello from a' }
    const toBob = await bob.next(said('hello from a'), 5_000)
    t.same(unpositioned(toBob), fromA, 'to the other process')
    t.same(unpositioned(await alice.next(said('hello from a'), 5_000)), fromA, 'and to the sender')
    bob.send({ type: 'say', channel: 'general', text: 'hello from b' })
    t.match(await alice.next(said('hello from b'), 5_000), { from: 'bob' }, 'and back')
    t.match(await bob.next(said('hello from b'), 5_000), { from: 'bob' }, 'and back to its sender')
    // A later message from the same sender has arrived: a duplicate would have, too.
    alice.send({ type: 'say', channel: 'general', text: 'again from a' })
    await Promise.all([alice, bob].map((client) => client.next(said('again from a'), 5_000)))
    t.same([count(alice, 'hello from a'), count(bob, 'hello from a')], [1, 1], 'exactly once')

    const admin = await B.connect('admin')
    admin.send({ type: 'announce', text: 'maintenance at noon' })
    const announcement = { type: 'announcement', from: 'admin', text: 'maintenance at noon' }
    const toAlice = await alice.next((m) => m.type === 'announcement', 5_000)
    t.same(unpositioned(toAlice), announcement, 'broadcast')

    const expected = { connections: 3, users: 3, channels: { general: 2 } }
    await statsBecome(t, A, expected, '/api/stats counts across both (asked on one)')
    await statsBecome(t, B, expected, '(and on the other)')
  })

  await t.test('a token is single-use across both', async (t) => {
    const [A, B] = browsers(t) as [Clients, Clients]
    const cookie = await A.login('dave')
    for (const [issuer, first, second] of [
      [A, B, A],
      [B, A, B],
    ] as const) {
      const query = `?ws_token=${await issuer.token(cookie)}`
      t.equal((await first.open(query)).status, 101, 'used on one')
      t.equal((await second.open(query)).status, 401, 'refused on the other')
      t.equal((await first.open(query)).status, 401, 'and on the same')
    }
  })

  await t.test('processes with another prefix share nothing', async (t) => {
    const [A, B, C] = browsers(t) as [Clients, Clients, Clients]
    await statsBecome(t, C, { connections: 0, users: 0, channels: {} }, 'no connection of A or B')
    const alice = await A.connect('alice')
    const bob = await B.connect('bob')
    const carol = await C.connect('carol')
    for (const client of [alice, bob, carol]) await join(client, 'lobby')
    alice.send({ type: 'say', channel: 'lobby', text: 'for this service' })
    await bob.next(said('for this service'), 5_000)
    carol.send({ type: 'say', channel: 'lobby', text: 'for the other service' })
    await carol.next(said('for the other service'), 5_000)
    t.equal(count(carol, 'for this service'), 0, 'a message does not cross prefixes')
    t.equal(count(alice, 'for the other service'), 0, 'either way')
    await statsBecome(
      t,
      C,
      { connections: 1, users: 1, channels: { lobby: 1 } },
      'C counts its own',
    )
    t.equal((await stats(A)).channels.lobby, 2, 'A counts only its service')

    const query = `?ws_token=${await A.token(await A.login('erin'))}`
    t.equal((await A.open(query)).status, 101, 'a token used on A')
    t.equal((await C.open(query)).status, 101, 'nor their used tokens: same secret, other service')
  })

  await t.test('a client resumes on the other process, with what it missed', async (t) => {
    const [A, B] = browsers(t) as [Clients, Clients]
    const alice = await A.connect('alice')
    await join(alice, 'resume-room')
    // Carol uses the client; she connects to B first, to A once B's connection is gone.
    const cookie = await B.login('carol')
    let to = B
    let away: Promise<void> = Promise.resolve()
    const sockets: WebSocket[] = []
    class Socket extends WebSocket {
      constructor(url: string) {
        super(url)
        sockets.push(this)
        this.on('error', () => {})
      }
    }
    const carol = new WardenClient({
      url: () => `ws://127.0.0.1:${to.port}/ws`,
      token: async () => {
        await away
        return to.token(cookie)
      },
      WebSocket: Socket as unknown as WebSocketConstructor,
    })
    t.teardown(() => {
      carol.close()
      for (const socket of sockets) socket.terminate()
    })
    const received: Envelope[] = []
    const resumed: ResumedEvent[] = []
    carol.on('message', (message) => void received.push(message))
    carol.on('resumed', (event) => void resumed.push(event))
    const texts = () => received.filter((m) => m.type === 'message').map((m) => m.text)
    carol.send({ type: 'join', channel: 'resume-room' })
    await until(() => received.some((m) => m.type === 'joined'), 5_000)
    alice.send({ type: 'say', channel: 'resume-room', text: 'first' })
    await until(() => texts().includes('first'), 5_000)

    // Carol's connection to B drops; she cannot reconnect until `release`: she is away.
    let release = () => {}
    away = new Promise<void>((resolve) => (release = resolve))
    to = A
    const closed = new Promise((resolve) => carol.once('close', resolve))
    sockets.at(-1)?.terminate()
    await within(5_000, closed)
    for (const text of ['second', 'third']) {
      alice.send({ type: 'say', channel: 'resume-room', text })
    }
    await alice.next(said('third'), 5_000)
    release()
    await until(() => resumed.length === 1, 15_000)
    t.match(resumed[0], { complete: true, missed: 2, channels: ['resume-room'] }, 'resumed on A')
    await until(() => texts().length >= 3, 5_000)
    alice.send({ type: 'say', channel: 'resume-room', text: 'fourth' })
    await until(() => texts().includes('fourth'), 5_000)
    t.same(texts(), ['first', 'second', 'third', 'fourth'], 'in order, none twice or skipped')
  })

  await t.test("a crashed process's connections stop counting once a sweep ran", async (t) => {
    const [A, B] = browsers(t) as [Clients, Clients]
    const alice = await A.connect('alice')
    const frank = await B.connect('frank')
    await B.connect('frank')
    await join(alice, 'crash-room')
    await join(frank, 'crash-room')
    const both = { connections: 3, users: 2, channels: { 'crash-room': 2 } }
    await statsBecome(t, A, both, 'A counts the connections on B')
    b.child.kill('SIGKILL')
    await within(10_000, b.exited)
    await within(10_000, frank.closed)
    // B never removed their records; A's sweeper does, once their heartbeat deadline has passed.
    const alone = { connections: 1, users: 1, channels: { 'crash-room': 1 } }
    await statsBecome(t, A, alone, "B's connections are no longer counted", 20_000)
  })

  const codes = await Promise.all([a, c].map((demo: DemoProcess) => stop(demo)))
  t.same(codes, [0, 0], 'the others shut down gracefully')
}
