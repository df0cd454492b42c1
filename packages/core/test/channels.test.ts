import t from 'tap'
import type { Connection } from '../src/index.js'
import { ForbiddenError } from '../src/index.js'
import { MemoryBroker, MemorySessionStore } from '../src/stores.js'
import { startServer, until } from './helpers/server.js'

/** The server-side connection of the last client that connected. */
async function newest(connections: Connection[], count: number): Promise<Connection> {
  await until(() => connections.length >= count)
  return connections[count - 1]!
}

t.test('channel, user and broadcast delivery on one instance, with exclusions', async (t) => {
  const { connect, warden, connections } = await startServer(t)
  const a1 = await connect('alice')
  const a2 = await connect('alice')
  const b = await connect('bob')
  const [ca1, ca2, cb] = [
    await newest(connections, 1),
    await newest(connections, 2),
    await newest(connections, 3),
  ]
  await warden.join(ca1, 'room')
  await warden.join(cb, 'room')
  t.same([...ca1.channels], ['room'])

  t.equal(await warden.toChannel('room', { type: 'm', n: 1 }), 2)
  t.equal(await warden.toChannel('room', { type: 'm', n: 2 }, { except: [cb.id] }), 1)
  t.equal(await warden.toUser('alice', { type: 'u' }), 2)
  t.equal(await warden.broadcast({ type: 'all' }, { except: [ca2.id] }), 2)
  t.equal(warden.send(cb.id, { type: 'direct' }), true)
  t.equal(warden.send('nobody', { type: 'direct' }), false)

  await b.next((m) => m.type === 'direct')
  await a1.next((m) => m.type === 'all')
  await a2.next((m) => m.type === 'u')
  t.same(
    a1.ofType('m').map((m) => m.n),
    [1, 2],
  )
  t.same(
    b.ofType('m').map((m) => m.n),
    [1],
  )
  t.same(a2.ofType('m'), [], 'not a member')
  t.same(a2.ofType('all'), [], 'excluded from the broadcast')

  await warden.leave(ca1, 'room')
  t.equal(await warden.toChannel('room', { type: 'm', n: 3 }), 1)
  const stats = await warden.stats()
  t.same(stats.instance, { connections: 3, users: 2, channels: { room: 1 } })
  t.same(stats.cluster, { connections: 3, users: 2, channels: { room: 1 } })
})

t.test('authorizeChannel guards joins', async (t) => {
  const { connect, warden, connections } = await startServer(t, {
    authorizeChannel: (connection, channel) =>
      channel !== 'staff' || connection.principal.permissions.includes('chat.moderate'),
  })
  await connect({ userId: 'u', permissions: [] })
  await connect({ userId: 'admin', permissions: ['chat.moderate'] })
  const [user, admin] = [await newest(connections, 1), await newest(connections, 2)]
  await t.rejects(warden.join(user, 'staff'), ForbiddenError)
  await warden.join(admin, 'staff')
  t.same([...user.channels], [])
  t.same([...admin.channels], ['staff'])
})

t.test('two instances sharing a broker and a session store act as one', async (t) => {
  const broker = new MemoryBroker()
  const sessions = new MemorySessionStore()
  const one = await startServer(t, { stores: { broker, sessions }, instanceId: 'one' })
  const two = await startServer(t, { stores: { broker, sessions }, instanceId: 'two' })
  await one.warden.ready()
  await two.warden.ready()
  const alice1 = await one.connect('alice')
  const bob2 = await two.connect('bob')
  const alice2 = await two.connect('alice')
  const [cAlice1, cBob2, cAlice2] = [
    await newest(one.connections, 1),
    await newest(two.connections, 1),
    await newest(two.connections, 2),
  ]
  await one.warden.join(cAlice1, 'room')
  await two.warden.join(cBob2, 'room')

  await one.warden.toChannel('room', { type: 'm', n: 1 })
  await two.warden.toChannel('room', { type: 'm', n: 2 }, { except: [cAlice1.id] })
  await one.warden.toUser('alice', { type: 'u' })
  await two.warden.broadcast({ type: 'all' })
  await bob2.next((m) => m.type === 'all')
  await alice1.next((m) => m.type === 'all')
  await alice2.next((m) => m.type === 'all')
  await alice2.next((m) => m.type === 'u')

  t.same(
    alice1.ofType('m').map((m) => m.n),
    [1],
    'excluded on another instance too',
  )
  t.same(
    bob2.ofType('m').map((m) => m.n),
    [1, 2],
    'exactly once each',
  )
  t.same(alice2.ofType('m'), [], 'not a member')
  t.equal(alice1.ofType('u').length, 1)
  t.equal(alice2.ofType('u').length, 1)
  t.equal(bob2.ofType('all').length, 1)

  const stats = await one.warden.stats()
  t.same(stats.instance.connections, 1)
  t.same(stats.cluster, { connections: 3, users: 2, channels: { room: 2 } })
  t.equal(cAlice2.channels.size, 0)

  await one.warden.disconnectUser('alice', 4003, 'kicked')
  t.equal((await alice1.closed).code, 4003)
  t.equal((await alice2.closed).code, 4003, 'closed on the other instance as well')
  t.equal(bob2.socket.readyState, bob2.socket.OPEN)
})

t.test('an instance stops receiving a channel once its last member leaves', async (t) => {
  const broker = new MemoryBroker()
  const one = await startServer(t, { stores: { broker }, instanceId: 'one' })
  const two = await startServer(t, { stores: { broker }, instanceId: 'two' })
  const client = await two.connect('bob')
  const connection = await newest(two.connections, 1)
  await two.warden.join(connection, 'room')
  await one.warden.toChannel('room', { type: 'm', n: 1 })
  await client.next((m) => m.type === 'm')
  await two.warden.leave(connection, 'room')
  await one.warden.toChannel('room', { type: 'm', n: 2 })
  await two.warden.broadcast({ type: 'marker' })
  await client.next((m) => m.type === 'marker')
  t.same(
    client.ofType('m').map((m) => m.n),
    [1],
  )
})

/** A session store that counts channel writes. */
function countingSessions() {
  const sessions = new MemorySessionStore()
  const writes = { join: 0, leave: 0 }
  const join = sessions.join.bind(sessions)
  const leave = sessions.leave.bind(sessions)
  sessions.join = async (id, channel) => {
    writes.join++
    return join(id, channel)
  }
  sessions.leave = async (id, channel) => {
    writes.leave++
    return leave(id, channel)
  }
  return { sessions, writes }
}

t.test('joining twice, even concurrently, records the membership once', async (t) => {
  const { sessions, writes } = countingSessions()
  let authorizations = 0
  const { connect, warden, connections } = await startServer(t, {
    stores: { sessions },
    authorizeChannel: async () => {
      authorizations++
      await new Promise((resolve) => setImmediate(resolve))
      return true
    },
  })
  await connect('alice')
  const connection = await newest(connections, 1)
  await Promise.all([warden.join(connection, 'room'), warden.join(connection, 'room')])
  t.equal(authorizations, 2, 'both were authorized before either joined')
  await warden.join(connection, 'room')
  t.equal(authorizations, 2, 'a member is not authorized again')
  t.equal(writes.join, 1)
  t.same([...connection.channels], ['room'])
  t.same((await warden.stats()).cluster.channels, { room: 1 })
})

t.test('a connection that closes while being authorized does not join', async (t) => {
  const { sessions, writes } = countingSessions()
  let allow: (allowed: boolean) => void = () => {}
  const { connect, warden, connections } = await startServer(t, {
    stores: { sessions },
    authorizeChannel: () => new Promise<boolean>((resolve) => (allow = resolve)),
  })
  const client = await connect('alice')
  const connection = await newest(connections, 1)
  const joining = warden.join(connection, 'room')
  connection.close(4000)
  allow(true)
  await joining
  t.same([...connection.channels], [])
  t.equal(writes.join, 0)
  t.equal((await client.closedWithin()).code, 4000)
})

t.test('join and leave ignore what is not a live member', async (t) => {
  const { sessions, writes } = countingSessions()
  let authorizations = 0
  const { connect, warden, connections } = await startServer(t, {
    stores: { sessions },
    authorizeChannel: () => {
      authorizations++
      return true
    },
  })
  const client = await connect('alice')
  const connection = await newest(connections, 1)
  await warden.leave(connection, 'never-joined')
  t.equal(writes.leave, 0, 'leaving a channel it is not in writes nothing')
  const impostor = Object.create(connection) as Connection
  t.equal(impostor.id, connection.id)
  await warden.join(impostor, 'room')
  await warden.leave(impostor, 'room')
  t.same([...connection.channels], [], 'an object with the same id is not the connection')
  client.socket.close()
  await until(() => warden.get(connection.id) === undefined)
  await warden.join(connection, 'room')
  t.same([...connection.channels], [], 'an ended connection joins nothing')
  t.equal(authorizations, 0)
  t.same(writes, { join: 0, leave: 0 })
})

t.test('broker payloads an instance cannot use are dropped; bad JSON is reported', async (t) => {
  const thrownIntoBroker: unknown[] = []
  const broker = new MemoryBroker({ onError: (error) => thrownIntoBroker.push(error) })
  const errors: unknown[] = []
  const { connect, warden, connections } = await startServer(t, {
    stores: { broker },
    instanceId: 'one',
    hooks: { onError: (error) => errors.push(error) },
  })
  await warden.ready()
  const client = await connect('alice')
  await newest(connections, 1)
  await broker.publish('all', '{not json')
  await broker.publish('all', JSON.stringify({ o: 'two' }))
  await broker.publish('control', JSON.stringify({ o: 'two', op: 'disconnect' }))
  await broker.publish('control', JSON.stringify({ o: 'two', d: '{"type":"stray"}' }))
  await broker.publish('all', JSON.stringify({ o: 'two', d: '{"type":"marker"}' }))
  await client.next((m) => m.type === 'marker')
  t.same(client.messages, [{ type: 'marker' }], 'only the well-formed delivery arrived')
  t.equal(client.socket.readyState, client.socket.OPEN, 'a disconnect naming no user closes no one')
  t.equal(errors.length, 1)
  t.type(errors[0], SyntaxError)
  t.same(thrownIntoBroker, [], 'nothing was thrown back into the broker')
})

t.test('a fan-out whose publish fails is delivered nowhere, not even locally', async (t) => {
  let failing = true
  class FailingBroker extends MemoryBroker {
    override async publish(topic: string, payload: string): Promise<void> {
      if (failing && topic !== 'control') throw new Error('the broker is down')
      return super.publish(topic, payload)
    }
  }
  const { connect, warden, connections } = await startServer(t, {
    stores: { broker: new FailingBroker() },
  })
  const client = await connect('alice')
  await warden.join(await newest(connections, 1), 'room')
  await t.rejects(warden.broadcast({ type: 'lost' }), 'broadcast')
  await t.rejects(warden.toChannel('room', { type: 'lost' }), 'toChannel')
  await t.rejects(warden.toUser('alice', { type: 'lost' }), 'toUser')
  failing = false
  t.equal(await warden.broadcast({ type: 'marker' }), 1)
  await client.next((m) => m.type === 'marker')
  t.same(client.messages, [{ type: 'marker' }], 'only the fan-out that was published arrived')
})
