import t from 'tap'
import { once } from 'node:events'
import type { Connection, DisconnectInfo, Handler } from '../src/index.js'
import type { LiveConnection } from '../src/connection.js'
import { MemorySessionStore } from '../src/stores.js'
import { startServer, until } from './helpers/server.js'

/** A client that stops reading: nothing sent to it is consumed, not even a close frame. */
function stopReading(socket: unknown): void {
  ;(socket as { _socket: { pause(): void } })._socket.pause()
}

t.test('a peer that stops answering pings is cut off and removed', async (t) => {
  const sessions = new MemorySessionStore()
  const ended: DisconnectInfo[] = []
  const { connect, warden } = await startServer(t, {
    stores: { sessions },
    heartbeat: { intervalMs: 60, timeoutMs: 40 },
    hooks: { onDisconnect: (_c, info) => ended.push(info) },
  })
  const dead = await connect('dead', { autoPong: false })
  const alive = await connect('alive')
  // When the check runs is heartbeat.test.ts's business; a wall-clock bound here (a timing
  // threshold) failed on a loaded machine. The close, its cause and code are the proof.
  const { code } = await dead.closed
  t.equal(code, 1006, 'terminated without a close frame')
  await until(() => ended.length === 1)
  t.same(ended, [{ cause: 'heartbeat', code: 4108 }])
  await until(() => [...warden.connections()].length === 1)
  t.equal(await sessions.count({ userId: 'dead' }), 0, 'its record is gone from the store')
  // A few more cycles: the live peer answers pings and stays.
  await new Promise((resolve) => setTimeout(resolve, 250))
  t.equal(alive.socket.readyState, alive.socket.OPEN)
  t.equal(await sessions.count({ userId: 'alive' }), 1)
})

t.test('pings refresh lastSeenAt in one batched touch per cycle', async (t) => {
  const sessions = new MemorySessionStore()
  const touches: number[] = []
  const original = sessions.touch.bind(sessions)
  sessions.touch = async (ids, at) => {
    touches.push(ids.length)
    return original(ids, at)
  }
  const { connect } = await startServer(t, {
    stores: { sessions },
    heartbeat: { intervalMs: 50, timeoutMs: 20 },
  })
  await connect('a')
  await connect('b')
  await connect('c')
  await until(() => touches.length >= 2)
  t.equal(touches[1], 3, 'three sessions touched in one call')
})

t.test('a slow consumer is cut off; sends never block and others keep receiving', async (t) => {
  const ended: DisconnectInfo[] = []
  const { connect, warden } = await startServer(t, {
    send: { maxBufferedBytes: 256 * 1024 },
    hooks: { onDisconnect: (_c, info) => ended.push(info) },
  })
  const slow = await connect('slow')
  const fast = await connect('fast')
  await until(() => [...warden.connections()].length === 2)
  const slowConnection = [...warden.connections()].find((c) => c.userId === 'slow')
  t.ok(slowConnection)
  for (const connection of warden.connections()) await warden.join(connection, 'room')
  // The slow client stops reading: its TCP window fills, then the server's buffer grows.
  ;(slow.socket as unknown as { _socket: { pause(): void } })._socket.pause()
  const payload = 'x'.repeat(64 * 1024)
  let deliveries = 0
  for (let i = 0; i < 1000 && slowConnection!.open; i++) {
    deliveries += await warden.toChannel('room', { type: 'bulk', payload })
    if (i % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  t.notOk(slowConnection!.open, 'the slow consumer was cut off')
  await until(() => ended.length === 1)
  t.equal(ended[0]?.cause, 'slow_consumer')
  t.ok(deliveries > 0)
  await warden.toChannel('room', { type: 'after' })
  t.ok(await fast.next((m) => m.type === 'after'), 'the fast client still receives')
})

t.test('graceful shutdown closes every connection with 1012 and reports counts', async (t) => {
  const sessions = new MemorySessionStore()
  const { connect, warden } = await startServer(t, {
    stores: { sessions },
    shutdown: { drainMs: 100, timeoutMs: 2_000 },
  })
  const clients = await Promise.all(['a', 'b', 'c', 'd'].map((user) => connect(user)))
  await until(() => [...warden.connections()].length === 4)
  const first = warden.close()
  t.equal(warden.close(), first, 'close is idempotent')
  const report = await first
  const codes = await Promise.all(clients.map(async (client) => (await client.closed).code))
  t.same(codes, [1012, 1012, 1012, 1012])
  t.equal(report.closed, 4)
  t.equal(report.terminated, 0)
  t.equal(report.errors, 0)
  t.equal(await sessions.count(), 0, 'records removed')
})

t.test('shutdown terminates peers that never finish the closing handshake', async (t) => {
  const { connect, warden } = await startServer(t, { shutdown: { drainMs: 0, timeoutMs: 200 } })
  const stuck = await connect('stuck')
  const fine = await connect('fine')
  await until(() => [...warden.connections()].length === 2)
  // A paused client never reads the close frame, so never answers it.
  ;(stuck.socket as unknown as { _socket: { pause(): void } })._socket.pause()
  const report = await warden.close()
  t.equal(report.closed, 1)
  t.equal(report.terminated, 1)
  t.equal((await fine.closed).code, 1012)
  t.equal([...warden.connections()].length, 0)
})

t.test('shutdown before anything connected reports zeros', async (t) => {
  const { warden } = await startServer(t)
  const report = await warden.close()
  t.same({ ...report, durationMs: 0 }, { closed: 0, terminated: 0, errors: 0, durationMs: 0 })
})

t.test('a connection can be closed by the server with a code', async (t) => {
  const ended: DisconnectInfo[] = []
  const { connect, warden } = await startServer(t, {
    hooks: { onDisconnect: (_c, info) => ended.push(info) },
  })
  const client = await connect('a')
  await until(() => [...warden.connections()].length === 1)
  const [connection] = [...warden.connections()]
  connection!.close(4003, 'x'.repeat(300))
  const { code, reason } = await client.closed
  t.equal(code, 4003)
  t.equal(reason.length, 123)
  await until(() => ended.length === 1)
  t.same(ended, [{ cause: 'server', code: 4003 }])
  t.equal(connection!.send({ type: 'late' }), false, 'sending to a closed connection reports false')
})

t.test('the client closing runs the same removal path', async (t) => {
  const sessions = new MemorySessionStore()
  const ended: DisconnectInfo[] = []
  const { connect, warden } = await startServer(t, {
    stores: { sessions },
    hooks: { onDisconnect: (_c, info) => ended.push(info) },
  })
  const client = await connect('a')
  await until(() => [...warden.connections()].length === 1)
  await warden.join([...warden.connections()][0]!, 'room')
  client.socket.close(1000)
  await once(client.socket, 'close')
  await until(() => ended.length === 1)
  t.same(ended, [{ cause: 'client', code: 1000 }])
  await until(() => [...warden.connections()].length === 0)
  t.same((await warden.stats()).instance, { connections: 0, users: 0, channels: {} })
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await sessions.count(), 0, 'its record is gone')
})

t.test(
  "ws keeps no registry of its own beside the warden's: one close listener per socket",
  async (t) => {
    const { connect, connections, warden } = await startServer(t)
    t.equal(warden.wsOptions.clientTracking, false)
    const client = await connect('a')
    await until(() => connections.length === 1)
    const { socket } = connections[0] as LiveConnection
    // With ws's client tracking, its own close listener (a closure per socket) would be a second.
    t.equal(socket.listenerCount('close'), 1)
    client.socket.close(1000)
    await until(() => [...warden.connections()].length === 0)
  },
)

t.test('a close code ws cannot send drops the socket instead', async (t) => {
  const ended: DisconnectInfo[] = []
  const { connect, connections } = await startServer(t, {
    hooks: { onDisconnect: (_c, info) => ended.push(info) },
  })
  const client = await connect('a')
  await until(() => connections.length === 1)
  connections[0]?.close(1005) // reserved by RFC 6455: never sent in a close frame
  t.equal((await client.closedWithin()).code, 1006)
  await until(() => ended.length === 1)
  t.same(ended, [{ cause: 'server', code: 1006 }])
})

t.test('onConnect sees each connection; a throwing hook is reported, not fatal', async (t) => {
  const seen: Connection[] = []
  const errors: unknown[] = []
  const echo: Handler = ({ reply }) => void reply({ type: 'echo' })
  const { connect, warden } = await startServer(t, {
    handlers: { echo },
    hooks: {
      onConnect: (connection) => {
        seen.push(connection)
        if (connection.userId === 'bob') throw new Error('hook bug')
      },
      onError: (error) => errors.push(error),
    },
  })
  await connect('alice')
  const bob = await connect('bob')
  await until(() => seen.length === 2)
  t.same(
    seen.map((connection) => connection.userId),
    ['alice', 'bob'],
  )
  t.match(errors, [{ message: 'hook bug' }])
  t.equal(warden.get(seen[1]!.id), seen[1])
  t.equal(warden.get('nobody'), undefined)
  t.same([...warden.connectionsOf('bob')], [seen[1]])
  t.equal(warden.connectionsOf('carol').size, 0)
  bob.send({ type: 'echo' })
  t.ok(await bob.next((m) => m.type === 'echo'), "bob's connection works")
})

t.test('a connection that is closing is neither pinged nor touched', async (t) => {
  const sessions = new MemorySessionStore()
  const touched: string[][] = []
  const touch = sessions.touch.bind(sessions)
  sessions.touch = async (ids, at) => {
    touched.push([...ids])
    return touch(ids, at)
  }
  let closedAt = -1
  const { connect, connections, warden } = await startServer(t, {
    stores: { sessions },
    heartbeat: { intervalMs: 300, timeoutMs: 150 },
    handlers: {
      leave: ({ connection }) => {
        closedAt = touched.length
        connection.close(4000)
      },
    },
  })
  const leaving = await connect('leaving')
  await connect('staying')
  await until(() => connections.length === 2)
  const [gone, kept] = connections as [Connection, Connection]
  // Right after answering a ping (the pong goes out first), ask to be closed, then stop reading:
  // the close frame is never answered, so the connection stays closing, with no ping pending.
  leaving.socket.once('ping', () => {
    leaving.send({ type: 'leave' })
    stopReading(leaving.socket)
  })
  await until(() => closedAt !== -1 && touched.length >= closedAt + 2, 3_000)
  t.equal(gone.open, false)
  for (const ids of touched.slice(closedAt)) t.same(ids, [kept.id])
  t.equal(warden.get(gone.id), gone, 'still registered: no ping, so no missed pong')
})

t.test('the heartbeat sweep cuts off a peer whose bytes sit unread too long', async (t) => {
  let now = Date.now()
  const ended: DisconnectInfo[] = []
  const { connect, connections } = await startServer(t, {
    clock: { now: () => now },
    heartbeat: { intervalMs: 400, timeoutMs: 200 },
    send: { maxBufferedBytes: 64 * 1024 * 1024, timeoutMs: 1_000 },
    limits: { messagesPerSecond: 1_000 },
    handlers: { noop: () => {} },
    hooks: { onDisconnect: (_c, info) => ended.push(info) },
  })
  const client = await connect('reader')
  await until(() => connections.length === 1)
  const connection = connections[0]!
  stopReading(client.socket)
  // 32 MiB it never reads: more than the kernel buffers of both ends hold.
  const payload = 'x'.repeat(64 * 1024)
  let accepted = 0
  for (let i = 0; i < 512; i++) if (connection.send({ type: 'bulk', payload })) accepted++
  t.equal(accepted, 512, 'within the buffered-bytes bound and the send timeout')
  // Time passes with no further send: only the sweep can notice.
  now += 5_000
  // The peer keeps talking, so it counts as alive between ping and check; it just does not read.
  const talking = setInterval(() => client.send({ type: 'noop' }), 10)
  t.teardown(() => clearInterval(talking))
  await until(() => ended.length === 1, 5_000)
  t.same(ended, [{ cause: 'slow_consumer', code: 1006 }])
})

t.test('shutdown waits for store writes in flight and counts those that failed', async (t) => {
  const sessions = new MemorySessionStore()
  const remove = sessions.remove.bind(sessions)
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => (release = resolve))
  let removing = 0
  sessions.remove = async (id) => {
    const call = ++removing
    await gate
    if (call === 1) throw new Error('connection reset')
    return remove(id)
  }
  const errors: unknown[] = []
  const { connect, connections, warden } = await startServer(t, {
    stores: { sessions },
    shutdown: { drainMs: 0 },
    hooks: { onError: (error) => errors.push(error) },
  })
  await connect('a')
  await connect('b')
  await until(() => connections.length === 2)
  let reported = false
  const closing = warden.close().then((report) => {
    reported = true
    return report
  })
  await until(() => removing === 2 && [...warden.connections()].length === 0)
  // Longer than a drain tick: a shutdown that did not wait would have reported by now.
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(reported, false, 'no report while removals are pending')
  release()
  const report = await closing
  t.match(report, { closed: 2, terminated: 0, errors: 1 })
  t.match(errors, [
    { code: 'store_unavailable', store: 'sessions', message: 'sessions store failed' },
  ])
  t.equal(await sessions.count(), 1, 'the failed removal left its record behind')
})

/** A memory session store with `removeMany`, recording each call's size. */
class BatchingSessions extends MemorySessionStore {
  readonly calls: number[] = []
  singles = 0
  override async remove(id: string): Promise<boolean> {
    this.singles++
    return super.remove(id)
  }
  async removeMany(ids: readonly string[]): Promise<number> {
    this.calls.push(ids.length)
    let removed = 0
    for (const id of ids) if (await super.remove(id)) removed++
    return removed
  }
}

t.test('a warden gathers the removals of closing connections into removeMany', async (t) => {
  const sessions = new BatchingSessions()
  const { connect } = await startServer(t, { stores: { sessions } })
  const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(`user${i}`)))
  t.equal(await sessions.count(), 20)
  for (const client of clients) client.socket.terminate()
  await Promise.all(clients.map((client) => client.closedWithin()))
  await until(async () => (await sessions.count()) === 0, 2_000)
  t.equal(sessions.singles, 0, 'no removal went alone')
  t.equal(
    sessions.calls.reduce((sum, n) => sum + n, 0),
    20,
    'every record was in a call',
  )
  t.ok(sessions.calls.length < 20, `fewer calls than closes (${sessions.calls.join(', ')})`)
})

t.test('shutdown waits for the batched removals of the connections it closes', async (t) => {
  const sessions = new BatchingSessions()
  const { warden, connect } = await startServer(t, { stores: { sessions } })
  await Promise.all(Array.from({ length: 10 }, (_, i) => connect(`user${i}`)))
  t.equal(await sessions.count(), 10)
  await warden.close()
  t.equal(await sessions.count(), 0, 'every record is gone when close resolves')
  t.equal(sessions.singles, 0)
})

t.test(
  'a failed removeMany is one error for its batch, counted in the shutdown report',
  async (t) => {
    const sessions = new BatchingSessions()
    sessions.removeMany = async (ids) => {
      sessions.calls.push(ids.length)
      throw new Error('connection reset')
    }
    const errors: unknown[] = []
    const { warden, connect } = await startServer(t, {
      stores: { sessions },
      shutdown: { drainMs: 0 },
      hooks: { onError: (error) => errors.push(error) },
    })
    await Promise.all(Array.from({ length: 6 }, (_, i) => connect(`user${i}`)))
    const report = await warden.close()
    t.equal(
      sessions.calls.reduce((sum, n) => sum + n, 0),
      6,
      'every id was sent',
    )
    t.equal(errors.length, sessions.calls.length, 'one error per failed call, not per id')
    t.match(errors, [{ code: 'store_unavailable', store: 'sessions' }])
    t.equal(report.errors, sessions.calls.length)
    t.equal(await sessions.count(), 6, 'the records stay, for the sweep')
  },
)
