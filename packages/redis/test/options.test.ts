import t from 'tap'
import { Redis } from 'ioredis'
import {
  RedisBroker,
  RedisLockStore,
  RedisRateLimitStore,
  RedisSessionStore,
  RedisTokenStore,
  createRedisStores,
  type RedisClient,
} from '../src/index.js'

// Never connects: option checks happen before any I/O.
const client = new Redis({ lazyConnect: true })
const stores = [
  RedisSessionStore,
  RedisTokenStore,
  RedisRateLimitStore,
  RedisLockStore,
  RedisBroker,
]

t.test('a store needs an ioredis client and a usable prefix', async (t) => {
  for (const Store of stores) {
    const name = Store.name
    t.throws(
      () => new Store(undefined as never),
      new TypeError(`ws-warden: ${name} option client must be an ioredis Redis or Cluster`),
    )
    t.throws(() => new Store({ client: {} as RedisClient }), { message: /option client/ })
    for (const prefix of ['', 'a{b', 'a}', 7]) {
      t.throws(() => new Store({ client, prefix: prefix as string }), {
        name: 'TypeError',
        message: `ws-warden: ${name} option prefix must be a non-empty string without {}`,
      })
    }
  }
})

t.test('numeric options are positive integers; callbacks are functions', async (t) => {
  t.throws(() => new RedisSessionStore({ client, ttlMs: 0 }), {
    message: 'ws-warden: RedisSessionStore option ttlMs must be a positive integer, got 0',
  })
  t.throws(() => new RedisRateLimitStore({ client, failOpenAfterMs: 1.5 }), {
    message: /failOpenAfterMs/,
  })
  t.throws(() => new RedisRateLimitStore({ client, onError: 'no' as never }), {
    message: /onError/,
  })
  t.throws(() => new RedisBroker({ client, timeoutMs: -1 }), { message: /timeoutMs/ })
  t.throws(() => new RedisBroker({ client, onError: 1 as never }), { message: /onError/ })
})

t.test('arguments are checked before any I/O', async (t) => {
  const tokens = new RedisTokenStore({ client })
  await t.rejects(tokens.consume('', 1), {
    message: 'ws-warden: consume(jti) needs a non-empty string',
  })
  await t.rejects(tokens.consume('jti', Number.NaN), { message: /consume\(expiresAt\)/ })
  const limits = new RedisRateLimitStore({ client })
  await t.rejects(limits.hit('k', 0, 1000), { message: /hit\(limit\)/ })
  await t.rejects(limits.hit('k', 1, 2.5), { message: /hit\(windowMs\)/ })
  await t.rejects(new RedisLockStore({ client }).acquire('l', 0), { message: /acquire\(ttlMs\)/ })
  const broker = new RedisBroker({ client })
  await t.rejects(broker.subscribe('topic', 'no' as never), { message: /handler/ })
  await broker.close()
})

t.test('createRedisStores takes a client or a url, not both, not neither', async (t) => {
  const message = 'ws-warden: createRedisStores needs one of the options client and url'
  await t.rejects(createRedisStores({}), { message })
  await t.rejects(createRedisStores(undefined as never), { message })
  await t.rejects(createRedisStores({ client, url: 'redis://127.0.0.1' }), { message })
  await t.rejects(createRedisStores({ url: 7 as never }), {
    message: /option url must be a string/,
  })
  await t.rejects(createRedisStores({ client, onError: 1 as never }), { message: /onError/ })
  await t.rejects(createRedisStores({ client, connectTimeoutMs: 0 }), {
    message: /connectTimeoutMs/,
  })
  await t.rejects(createRedisStores({ client, prefix: '{x}' }), { message: /prefix/ })
})
