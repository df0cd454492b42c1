import type { DisconnectInfo } from '@ws-warden/core'
import { MemorySessionStore } from '@ws-warden/core/stores'
import { once } from 'node:events'
import { eachAdapter, start, until } from '../harness.js'

eachAdapter((t, adapter) => {
  t.test('a peer that stops answering pings is cut off and removed', async (t) => {
    const sessions = new MemorySessionStore()
    const ended: DisconnectInfo[] = []
    const { connect, warden } = await start(t, adapter, {
      stores: { sessions },
      // Short, but with room for a loaded machine to answer in time.
      heartbeat: { intervalMs: 150, timeoutMs: 150 },
      hooks: { onDisconnect: (_connection, info) => ended.push(info) },
      handlers: { echo: ({ reply }) => void reply({ type: 'echo' }) },
    })
    const dead = await connect('dead', { autoPong: false })
    const alive = await connect('alive')
    let pings = 0
    alive.socket.on('ping', () => pings++)
    t.equal((await dead.closed).code, 1006, 'terminated, without a close frame')
    t.equal(alive.socket.readyState, alive.socket.OPEN)
    await until(() => ended.length === 1)
    t.same(ended, [{ cause: 'heartbeat', code: 4108 }])
    t.equal(await sessions.count({ userId: 'dead' }), 0, 'its record is gone')
    await until(() => pings >= 3, 5_000)
    alive.send({ type: 'echo' })
    t.ok(await alive.next((m) => m.type === 'echo'), 'a peer that answers stays')
    t.same(
      [...warden.connections()].map((c) => c.userId),
      ['alive'],
    )
  })

  t.test('a slow consumer is cut off; the others keep receiving', async (t) => {
    const ended: DisconnectInfo[] = []
    const { connect, warden } = await start(t, adapter, {
      send: { maxBufferedBytes: 256 * 1024 },
      hooks: { onDisconnect: (_connection, info) => ended.push(info) },
    })
    const slow = await connect('slow')
    const fast = await connect('fast')
    await until(() => [...warden.connections()].length === 2)
    for (const connection of warden.connections()) await warden.join(connection, 'room')
    const slowConnection = [...warden.connections()].find((c) => c.userId === 'slow')!
    slow.stopReading()
    const payload = 'x'.repeat(64 * 1024)
    for (let i = 0; i < 1_000 && slowConnection.open; i++) {
      await warden.toChannel('room', { type: 'bulk', payload })
      if (i % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    t.notOk(slowConnection.open, 'the slow consumer was cut off')
    await until(() => ended.length === 1)
    t.equal(ended[0]?.cause, 'slow_consumer')
    await warden.toChannel('room', { type: 'after' })
    t.ok(await fast.next((m) => m.type === 'after', 5_000), 'the fast client still receives')
  })

  t.test('closing the app shuts the warden down: 1012 to every client, and a report', async (t) => {
    const sessions = new MemorySessionStore()
    const { connect, warden, close } = await start(t, adapter, {
      stores: { sessions },
      shutdown: { drainMs: 50, timeoutMs: 2_000 },
    })
    const clients = await Promise.all(['a', 'b', 'c'].map((user) => connect(user)))
    await until(() => [...warden.connections()].length === 3)
    const closed = close()
    const report = await warden.close()
    await closed
    t.ok(warden.isClosing)
    t.same(
      await Promise.all(clients.map(async (client) => (await client.closed).code)),
      [1012, 1012, 1012],
    )
    t.match(report, { closed: 3, terminated: 0, errors: 0 })
    t.equal(await sessions.count(), 0, 'every record removed')
  })

  t.test('shutdown terminates a peer that never completes the closing handshake', async (t) => {
    const { connect, warden, close } = await start(t, adapter, {
      shutdown: { drainMs: 0, timeoutMs: 200 },
    })
    const stuck = await connect('stuck')
    const fine = await connect('fine')
    await until(() => [...warden.connections()].length === 2)
    stuck.stopReading()
    const closed = close()
    const report = await warden.close()
    await closed
    t.match(report, { closed: 1, terminated: 1 })
    t.equal((await fine.closed).code, 1012)
    t.same([...warden.connections()], [])
  })

  t.test('a client that closes is removed from the registry and the store', async (t) => {
    const sessions = new MemorySessionStore()
    const ended: DisconnectInfo[] = []
    const { connect, warden } = await start(t, adapter, {
      stores: { sessions },
      hooks: { onDisconnect: (_connection, info) => ended.push(info) },
    })
    const client = await connect('a')
    await until(() => [...warden.connections()].length === 1)
    client.socket.close(1000)
    await once(client.socket, 'close')
    await until(() => ended.length === 1)
    t.same(ended, [{ cause: 'client', code: 1000 }])
    await until(async () => (await sessions.count()) === 0)
    t.same((await warden.stats()).instance, { connections: 0, users: 0, channels: {} })
  })
})
