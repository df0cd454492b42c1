import t from 'tap'
import { CloseCode } from '@ws-warden/core'
import WebSocket from 'ws'
import { Client, Instance, buildIfStale } from './helpers/instances.js'
import { deleteKeys, randomPrefix, sharedRedis, until } from './helpers/redis.js'

const PER_USER_ATTEMPTS = 3
const env = { PER_USER_ATTEMPTS: String(PER_USER_ATTEMPTS) }

const redis = await sharedRedis(t)

if (redis !== undefined) {
  t.test('two instances over one Redis', async (t) => {
    buildIfStale()
    const prefix = randomPrefix()
    const [a, b] = await Promise.all([
      Instance.start(t, prefix, env),
      Instance.start(t, prefix, env),
    ])
    // Teardowns run in order: the servers are gone before their keys are deleted.
    t.teardown(async () => void (await deleteKeys(redis, prefix)))
    const all: Client[] = []
    const connect = async (instance: Instance, user: string): Promise<Client> => {
      const client = await instance.connect(user)
      t.equal(client.status, 101, `${user} connects to the instance on port ${instance.port}`)
      all.push(client)
      return client
    }
    const aliceLaptop = await connect(a, 'alice')
    const alicePhone = await connect(b, 'alice')
    const bob = await connect(b, 'bob')
    const carol = await connect(a, 'carol')
    await aliceLaptop.join('room')
    await bob.join('room')

    let fences = 0
    /**
     * Sends a broadcast from both instances and waits until every client has both: anything sent
     * before it on the same path has arrived by then (Redis keeps a publisher's order).
     */
    const fence = async (): Promise<void> => {
      const id = ++fences
      await a.request('/send?to=all', { type: 'fence', id })
      await b.request('/send?to=all', { type: 'fence', id })
      const seen = (client: Client) => client.of('fence').filter((m) => m.id === id).length === 2
      await until(() => all.every(seen), `fence ${id}`)
    }
    const count = (client: Client, type: string): number => client.of(type).length

    t.test('a channel message reaches every member, on both instances, once', async (t) => {
      await a.request('/send?to=channel&name=room', { type: 'room-1' })
      await b.request('/send?to=channel&name=room', { type: 'room-2' })
      await fence()
      for (const type of ['room-1', 'room-2']) {
        t.equal(count(aliceLaptop, type), 1, `alice's laptop (A): ${type}`)
        t.equal(count(bob, type), 1, `bob (B): ${type}`)
        t.equal(count(alicePhone, type), 0, `alice's phone is not in the room: ${type}`)
        t.equal(count(carol, type), 0, `carol is not in the room: ${type}`)
      }
    })

    t.test("a user message reaches each of the user's connections once", async (t) => {
      await b.request('/send?to=user&name=alice', { type: 'for-alice' })
      await fence()
      t.equal(count(aliceLaptop, 'for-alice'), 1, 'laptop, on the other instance')
      t.equal(count(alicePhone, 'for-alice'), 1, 'phone, on the sending instance')
      t.equal(count(bob, 'for-alice'), 0)
      t.equal(count(carol, 'for-alice'), 0)
    })

    t.test('a broadcast reaches every client once', async (t) => {
      await a.request('/send?to=all', { type: 'news' })
      await fence()
      for (const client of all) t.equal(count(client, 'news'), 1)
    })

    t.test('stats count across instances', async (t) => {
      const expected = { connections: 4, users: 3, channels: { room: 2 } }
      t.same((await a.request<{ cluster: unknown }>('/stats')).cluster, expected)
      t.same((await b.request<{ cluster: unknown }>('/stats')).cluster, expected)
    })

    t.test('a token consumed on one instance is refused on the other', async (t) => {
      const token = await a.token('dave')
      const first = await Client.open(a.port, token)
      t.equal(first.status, 101)
      const replay = await Client.open(b.port, token)
      t.equal(replay.status, 401)
      first.socket.close()
      await first.closed
    })

    t.test('the connect rate limit is shared', async (t) => {
      const statuses: number[] = []
      for (const instance of [a, b, a, b]) {
        const client = await instance.connect('eve')
        statuses.push(client.status)
        client.socket.close()
        await client.closed
      }
      t.same(statuses, [101, 101, 101, 429], `${PER_USER_ATTEMPTS} attempts per user in all`)
    })

    t.test("disconnectUser closes the user's connections on every instance", async (t) => {
      await a.request('/disconnect?user=alice', {})
      const codes = await Promise.all([aliceLaptop.closed, alicePhone.closed])
      t.same(codes, [CloseCode.Forbidden, CloseCode.Forbidden])
      t.equal(bob.socket.readyState, WebSocket.OPEN, 'others stay')
      await until(async () => {
        const stats = await b.request<{ cluster: { connections: number } }>('/stats')
        return stats.cluster.connections === 2
      }, 'the records to go')
    })
  })
}
