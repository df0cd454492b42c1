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
  CLUSTER_DEFAULTS,
  createRedisStores,
  parseClusterNodes,
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

t.test('createRedisStores takes one of a client, a url and a cluster', async (t) => {
  const message = 'ws-warden: createRedisStores needs one of the options client, url and cluster'
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
  await t.rejects(createRedisStores({ client, buckets: 0 }), {
    message: 'ws-warden: RedisSessionStore option buckets must be a positive integer, got 0',
  })
})

t.test('buckets: a positive integer, 1 on a Redis client by default', async (t) => {
  for (const Store of stores) {
    t.throws(() => new Store({ client, buckets: 1.5 }), {
      message: `ws-warden: ${Store.name} option buckets must be a positive integer, got 1.5`,
    })
  }
})

t.test('parseClusterNodes: host:port pairs, or a clear error naming the input', async (t) => {
  t.same(parseClusterNodes('127.0.0.1:7000, redis-b:7001,[::1]:7002'), [
    { host: '127.0.0.1', port: 7000 },
    { host: 'redis-b', port: 7001 },
    { host: '::1', port: 7002 },
  ])
  t.same(parseClusterNodes(['a:1', { host: 'b', port: 65535 }]), [
    { host: 'a', port: 1 },
    { host: 'b', port: 65535 },
  ])
  for (const bad of ['', 'a', 'a:', ':1', 'a:b', 'a:0', 'a:65536', 'a:1:2', '::1:7000', 'a b:1']) {
    t.throws(() => parseClusterNodes(`x:1,${bad}`, 'REDIS_CLUSTER_NODES'), {
      name: 'TypeError',
      message: `ws-warden: REDIS_CLUSTER_NODES must be host:port pairs, got ${JSON.stringify(bad)}`,
    })
  }
  for (const bad of [{ host: '', port: 1 }, { host: 'a', port: '1' }, null, 7]) {
    t.throws(() => parseClusterNodes([bad as never]), {
      message: /^ws-warden: cluster nodes must be host:port pairs, got /,
    })
  }
  t.throws(() => parseClusterNodes([]), {
    message: 'ws-warden: cluster nodes needs at least one host:port',
  })
  t.throws(() => parseClusterNodes(7 as never), {
    message: 'ws-warden: cluster nodes must be host:port pairs, got 7',
  })
})

t.test(
  'CLUSTER_DEFAULTS: redirections, TRYAGAIN and CLUSTERDOWN retries, masters only',
  async (t) => {
    t.match(CLUSTER_DEFAULTS, {
      enableOfflineQueue: false,
      maxRedirections: 32,
      retryDelayOnTryAgain: 50,
      retryDelayOnClusterDown: 100,
      scaleReads: 'master',
    })
  },
)
