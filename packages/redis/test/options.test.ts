import t from 'tap'
import type { ResumableSession } from '@ws-warden/core/stores'
import { Redis } from 'ioredis'
import {
  RedisBroker,
  RedisHistoryStore,
  RedisLockStore,
  RedisRateLimitStore,
  RedisResumeStore,
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
  RedisHistoryStore,
  RedisResumeStore,
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

t.test('history and resume arguments are checked before any I/O', async (t) => {
  const history = new RedisHistoryStore({ client })
  const limits = { maxLength: 10, ttlMs: 1000 }
  const stream = 'ws-warden: RedisHistoryStore.append(stream) needs a non-empty string'
  await t.rejects(history.append('', '{}', limits), new TypeError(stream))
  await t.rejects(history.append(7 as never, '{}', limits), { message: stream })
  await t.rejects(history.append('s', undefined as never, limits), {
    message: 'ws-warden: RedisHistoryStore.append(frame) needs a string',
  })
  await t.rejects(history.append('s', '{}', { maxLength: 0, ttlMs: 1 }), {
    message:
      'ws-warden: RedisHistoryStore.append limits.maxLength must be a positive integer, got 0',
  })
  await t.rejects(history.append('s', '{}', { maxLength: 1, ttlMs: 0.5 }), {
    message: /limits\.ttlMs/,
  })
  await t.rejects(history.append('s', '{}', undefined as never), { message: /maxLength/ })
  await t.rejects(history.read('', 0), { message: /read\(stream\)/ })
  for (const afterSeq of [-1, 1.5, Number.NaN, '3' as never]) {
    await t.rejects(history.read('s', afterSeq), {
      message: 'ws-warden: RedisHistoryStore.read(afterSeq) needs a non-negative integer',
    })
  }
  await t.rejects(history.head(''), { message: /head\(stream\)/ })
  await t.rejects(history.sweep(Number.NaN), {
    message: 'ws-warden: RedisHistoryStore.sweep(before) needs a number',
  })
  await t.rejects(history.sweep('1' as never), { message: /sweep\(before\)/ })

  const resumes = new RedisResumeStore({ client })
  const session = { id: 's', userId: 'u', credentialHash: 'h', state: '{}', expiresAt: 1 }
  for (const method of ['save', 'update'] as const) {
    const write = async (value: ResumableSession) => void (await resumes[method](value))
    await t.rejects(write(undefined as never), {
      message: `ws-warden: RedisResumeStore.${method} id needs a non-empty string`,
    })
    for (const field of ['id', 'userId', 'credentialHash'] as const) {
      await t.rejects(write({ ...session, [field]: '' }), {
        message: `ws-warden: RedisResumeStore.${method} ${field} needs a non-empty string`,
      })
    }
    await t.rejects(write({ ...session, state: null as never }), {
      message: `ws-warden: RedisResumeStore.${method} needs a string state`,
    })
    for (const expiresAt of [Number.NaN, Infinity, '1' as never]) {
      await t.rejects(write({ ...session, expiresAt }), {
        message: `ws-warden: RedisResumeStore.${method} expiresAt needs a finite epoch time in ms`,
      })
    }
  }
  await t.rejects(resumes.claim('', 'h'), { message: /claim\(id\) needs a non-empty string/ })
  await t.rejects(resumes.claim('s', undefined as never), {
    message: 'ws-warden: RedisResumeStore.claim(credentialHash) needs a string',
  })
  await t.rejects(resumes.remove(undefined as never), { message: /remove\(id\)/ })
  for (const ids of [undefined, 's', [''], [1]] as never[]) {
    await t.rejects(resumes.touch(ids, 1), {
      message: 'ws-warden: RedisResumeStore.touch(ids) needs an array of non-empty strings',
    })
  }
  await t.rejects(resumes.touch(['s'], Number.NaN), { message: /touch\(expiresAt\)/ })
  await t.rejects(resumes.sweep(Number.NaN), {
    message: 'ws-warden: RedisResumeStore.sweep(before) needs a number',
  })
  await t.rejects(resumes.sweep(undefined as never), { message: /sweep\(before\)/ })
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
