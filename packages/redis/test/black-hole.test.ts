import t from 'tap'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import { RedisBroker, RedisRateLimitStore, createRedisStores } from '../src/index.js'
import { freePort } from './helpers/redis.js'

// A "Redis" that accepts connections and never answers: the network partition that sends no
// FIN or RST. Nothing here needs a real Redis.
const sockets = new Set<Socket>()
const hole = createServer((socket) => void sockets.add(socket)).listen(0, '127.0.0.1')
await once(hole, 'listening')
const { port } = hole.address() as { port: number }
t.teardown(() => {
  for (const socket of sockets) socket.destroy()
  hole.close()
})

/** A client of the hole, with the offline queue ioredis has by default. */
function holeClient(): Redis {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0 })
  client.on('error', () => {})
  t.teardown(() => void client.disconnect())
  return client
}

t.test('a fail-open rate limit allows once failOpenAfterMs has passed', async (t) => {
  const errors: unknown[] = []
  const store = new RedisRateLimitStore({
    client: holeClient(),
    failOpen: true,
    failOpenAfterMs: 50,
    onError: (error) => errors.push(error),
  })
  t.same(await store.hit('k', 1, 1000), { allowed: true, remaining: 0, retryAfterMs: 0 })
  t.match(errors, [{ message: 'ws-warden: rate limit hit did not answer within 50 ms' }])
  const quiet = new RedisRateLimitStore({
    client: holeClient(),
    failOpen: true,
    failOpenAfterMs: 50,
  })
  t.equal((await quiet.hit('k', 1, 1000)).allowed, true, 'without onError too')
})

t.test('subscribe gives up after timeoutMs', async (t) => {
  const broker = new RedisBroker({ client: holeClient(), timeoutMs: 50 })
  t.teardown(() => broker.close())
  await t.rejects(
    broker.subscribe('t', () => {}),
    { message: /not ready within 50 ms/ },
  )
})

t.test('createRedisStores gives up after connectTimeoutMs, and closes what it made', async (t) => {
  await t.rejects(createRedisStores({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 50 }), {
    message: 'ws-warden: Redis was not ready within 50 ms',
  })
  await t.rejects(
    createRedisStores({ url: `redis://127.0.0.1:${await freePort()}`, connectTimeoutMs: 50 }),
  )
})
