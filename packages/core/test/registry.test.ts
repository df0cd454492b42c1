import t from 'tap'
import { Registry } from '../src/registry.js'

interface Entry {
  readonly id: string
  readonly userId: string
  readonly channels: Set<string>
}

const entry = (id: string, userId: string): Entry => ({ id, userId, channels: new Set() })

/** Joins the way the warden does: the connection's own set and the registry's index together. */
function join(registry: Registry<Entry>, connection: Entry, channel: string): boolean {
  connection.channels.add(channel)
  return registry.join(connection, channel)
}

t.test('indexes connections by id and by user', async (t) => {
  const registry = new Registry<Entry>()
  const a1 = entry('a1', 'alice')
  const a2 = entry('a2', 'alice')
  const b1 = entry('b1', 'bob')
  t.equal(registry.add(a1), true, "alice's first connection")
  t.equal(registry.add(a2), false, 'not her first')
  t.equal(registry.add(b1), true)
  t.equal(registry.size, 3)
  t.equal(registry.userCount, 2)
  t.equal(registry.get('a2'), a2)
  t.equal(registry.get('nobody'), undefined)
  t.same([...registry.all()], [a1, a2, b1])
  t.same([...registry.ofUser('alice')], [a1, a2])
  t.equal(registry.ofUser('carol').size, 0, 'an unknown user has no connections')
})

t.test('channels: first member in, last member out', async (t) => {
  const registry = new Registry<Entry>()
  const a = entry('a', 'alice')
  const b = entry('b', 'bob')
  registry.add(a)
  registry.add(b)
  t.equal(join(registry, a, 'room'), true, 'first local member')
  t.equal(join(registry, b, 'room'), false)
  t.equal(join(registry, b, 'lobby'), true)
  t.same(registry.channelCounts(), { room: 2, lobby: 1 })
  t.same([...registry.inChannel('room')], [a, b])
  t.equal(registry.inChannel('nowhere').size, 0)
  t.equal(registry.leave(a, 'room'), false, 'bob is still in the room')
  t.equal(registry.leave(a, 'room'), false, 'leaving twice changes nothing')
  t.equal(registry.leave(a, 'nowhere'), false, 'leaving an unknown channel changes nothing')
  t.same(registry.channelCounts(), { room: 1, lobby: 1 })
  t.equal(registry.leave(b, 'room'), true, 'the last member left')
  t.same(registry.channelCounts(), { lobby: 1 })
  t.equal(join(registry, a, 'room'), true, 'an emptied channel starts afresh')
})

t.test('remove drops every index and says what emptied', async (t) => {
  const registry = new Registry<Entry>()
  const a1 = entry('a1', 'alice')
  const a2 = entry('a2', 'alice')
  const b = entry('b', 'bob')
  for (const connection of [a1, a2, b]) registry.add(connection)
  join(registry, a1, 'shared')
  join(registry, b, 'shared')
  join(registry, a1, 'private')

  t.same(registry.remove(a1), { lastOfUser: false, emptiedChannels: ['private'] })
  t.equal(registry.get('a1'), undefined)
  t.same([...registry.ofUser('alice')], [a2])
  t.same(registry.channelCounts(), { shared: 1 })

  t.same(registry.remove(a2), { lastOfUser: true, emptiedChannels: [] })
  t.equal(registry.userCount, 1)
  t.same(registry.remove(b), { lastOfUser: true, emptiedChannels: ['shared'] })
  t.same(registry.channelCounts(), {})
  t.equal(registry.size, 0)
})

t.test('removing twice, or an impostor with the same id, is a no-op', async (t) => {
  const registry = new Registry<Entry>()
  const real = entry('c1', 'alice')
  registry.add(real)
  join(registry, real, 'room')
  const impostor = { ...entry('c1', 'alice'), channels: new Set(['room']) }
  t.same(registry.remove(impostor), { lastOfUser: false, emptiedChannels: [] })
  t.equal(registry.get('c1'), real, 'the real connection is still indexed')
  t.same(registry.channelCounts(), { room: 1 })
  t.same(registry.remove(real), { lastOfUser: true, emptiedChannels: ['room'] })
  t.same(registry.remove(real), { lastOfUser: false, emptiedChannels: [] })
})

t.test("a user's connections: one, two, back to one, none", async (t) => {
  const registry = new Registry<Entry>()
  const [a1, a2, a3] = [entry('a1', 'alice'), entry('a2', 'alice'), entry('a3', 'alice')]
  registry.add(a1)
  t.same([...registry.ofUser('alice')], [a1])
  registry.add(a2)
  t.same([...registry.ofUser('alice')], [a1, a2])
  t.same(registry.remove(a1), { lastOfUser: false, emptiedChannels: [] })
  t.same([...registry.ofUser('alice')], [a2], 'down to one')
  t.equal(registry.add(a3), false, 'a second again, not a first')
  t.equal(registry.add(a1), false, 'and a third')
  t.same([...registry.ofUser('alice')], [a2, a3, a1])
  t.same(registry.remove(a3), { lastOfUser: false, emptiedChannels: [] })
  t.same(registry.remove(a1), { lastOfUser: false, emptiedChannels: [] })
  t.same([...registry.ofUser('alice')], [a2])
  t.same(registry.remove(a2), { lastOfUser: true, emptiedChannels: [] })
  t.equal(registry.ofUser('alice').size, 0)
  t.equal(registry.userCount, 0)
  t.equal(registry.add(a1), true, 'a first connection again')
})
