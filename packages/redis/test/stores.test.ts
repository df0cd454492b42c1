import t from 'tap'
import { Redis } from 'ioredis'
import { createRedisStores } from '../src/index.js'
import { REDIS_URL, deleteKeys, freePort, randomPrefix, sharedRedis } from './helpers/redis.js'

const client = await sharedRedis(t)

if (client !== undefined) {
  t.test('from a url: the stores own their client and close it', async (t) => {
    const prefix = randomPrefix()
    t.teardown(async () => void (await deleteKeys(client, prefix)))
    const stores = await createRedisStores({ url: REDIS_URL, prefix })
    t.equal(await stores.tokens.consume('jti', Date.now() + 10_000), true)
    const got: string[] = []
    await stores.broker.subscribe('t', (payload) => got.push(payload))
    await stores.close()
    await t.rejects(stores.tokens.consume('jti-2', Date.now() + 10_000), 'closed')
    t.equal(await client.exists(`{${prefix}:tokens}:jti:jti`), 1, 'the data stays')
  })

  t.test('from a client: close leaves the client open', async (t) => {
    const lazy = new Redis(REDIS_URL, { lazyConnect: true })
    t.teardown(() => void lazy.disconnect())
    const stores = await createRedisStores({ client: lazy, prefix: randomPrefix() })
    t.equal(lazy.status, 'ready', 'a lazy client is connected')
    await stores.close()
    t.equal(lazy.status, 'ready')
    t.equal(await lazy.ping(), 'PONG')
  })

  t.test('an unreachable Redis rejects after connectTimeoutMs', async (t) => {
    const url = `redis://127.0.0.1:${await freePort()}`
    const errors: unknown[] = []
    await t.rejects(
      createRedisStores({ url, connectTimeoutMs: 200, onError: (error) => errors.push(error) }),
      { message: 'ws-warden: Redis was not ready within 200 ms' },
    )
    t.ok(errors.length > 0, 'the connection errors were reported')
    const closed = new Redis(REDIS_URL, { lazyConnect: true })
    closed.disconnect()
    await t.rejects(createRedisStores({ client: closed }), { message: /connection is closed/ })
  })
}
