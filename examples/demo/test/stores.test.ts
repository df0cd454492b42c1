import t from 'tap'
import {
  MemoryBroker,
  MemoryHistoryStore,
  MemoryLockStore,
  MemoryRateLimitStore,
  MemoryResumeStore,
  MemorySessionStore,
  MemoryTokenStore,
} from '@ws-warden/core/stores'
import { RedisHistoryStore, RedisResumeStore } from '@ws-warden/redis'
import { SqlHistoryStore, SqlResumeStore } from '@ws-warden/sql'
import { parseConfig } from '../src/config.js'
import { jsonLogger } from '../src/log.js'
import type { DemoStores } from '../src/stores.js'
import { createStores, fromSet, resumable } from '../src/stores.js'
import { startDemo } from './helpers.js'
import {
  cleanRedis,
  cleanSql,
  MYSQL_URL,
  POSTGRES_URL,
  REDIS_URL,
  serviceTest,
  uniquePrefix,
} from './services.js'

function baseSet() {
  let closed = 0
  const set = {
    sessions: new MemorySessionStore(),
    tokens: new MemoryTokenStore(),
    rateLimits: new MemoryRateLimitStore(),
    locks: new MemoryLockStore(),
    async close() {
      closed++
    },
  }
  return { set, closed: () => closed }
}

t.test('a store set passes history and resumes through, as a pair only', async (t) => {
  const history = new MemoryHistoryStore()
  const resumes = new MemoryResumeStore()
  const { set, closed } = baseSet()

  const both = fromSet({ ...set, history, resumes })
  t.equal(both.history, history)
  t.equal(both.resumes, resumes)
  t.ok(resumable(both), 'both: resumption on')

  for (const partial of [{ history }, { resumes }, {}]) {
    const stores = fromSet({ ...set, ...partial })
    t.same(
      [stores.history, stores.resumes],
      [undefined, undefined],
      Object.keys(partial).join() || 'neither',
    )
    t.notOk(resumable(stores), 'not both: resumption off')
  }

  await fromSet(set).close()
  t.equal(closed(), 1, "the set's own close by default")
  const admission = { ...set, admit: async () => ({ ok: true as const }) }
  t.equal(fromSet({ ...set, admission }).admission, admission, 'the admission passes through')
  t.equal(fromSet(set).admission, undefined)
  const broker = new MemoryBroker()
  let otherClose = 0
  const other = fromSet(set, { broker, close: async () => void otherClose++ })
  t.equal(other.broker, broker, 'another broker')
  await other.close()
  t.same([closed(), otherClose], [1, 1], 'and another close')
})

t.test('the memory stores can resume: the warden starts a session', async (t) => {
  const stores = await createStores(parseConfig({}), jsonLogger(false))
  t.type(stores.history, MemoryHistoryStore)
  t.type(stores.resumes, MemoryResumeStore)
  const { connect } = await startDemo(t, {}, { stores })
  const alice = await connect('alice')
  t.match(alice.messages[0], { type: '$session', resumed: false }, 'the first frame')
})

t.test('stores without history and resumes: the demo runs without resumption', async (t) => {
  const { set } = baseSet()
  const stores: DemoStores = set
  const { connect } = await startDemo(t, {}, { stores })
  const alice = await connect('alice')
  // `$session` would come before the welcome this waited for.
  t.same(
    alice.messages.map((m) => m.type),
    ['welcome'],
    'no session frame',
  )
  const joined = await alice.request({ type: 'join', channel: 'general' }, 'joined')
  t.same(joined, { type: 'joined', channel: 'general' })
})

await serviceTest('redis', 'WARDEN_STORE=redis passes the Redis history and resumes', async (t) => {
  const prefix = uniquePrefix()
  const config = parseConfig({ WARDEN_STORE: 'redis', REDIS_URL, WARDEN_PREFIX: prefix })
  const stores = await createStores(config, jsonLogger(false))
  t.teardown(async () => {
    await stores.close()
    await cleanRedis(prefix)
  })
  t.type(stores.history, RedisHistoryStore)
  t.type(stores.resumes, RedisResumeStore)
  t.ok(resumable(stores))
  t.equal(stores.admission?.sessions, stores.sessions, 'its one-trip admission, on its sessions')
})

for (const [store, url] of [
  ['postgres', POSTGRES_URL],
  ['mysql', MYSQL_URL],
] as const) {
  await serviceTest(
    store,
    `WARDEN_STORE=${store} passes the SQL history and resumes`,
    async (t) => {
      const prefix = uniquePrefix()
      const config = parseConfig({ WARDEN_STORE: store, DATABASE_URL: url, WARDEN_PREFIX: prefix })
      const stores = await createStores(config, jsonLogger(false))
      t.teardown(async () => {
        await stores.close()
        await cleanSql(store, prefix)
      })
      t.type(stores.history, SqlHistoryStore)
      t.type(stores.resumes, SqlResumeStore)
      t.ok(resumable(stores))
      t.equal(stores.admission?.tokens, stores.tokens, 'its one-trip admission, on its tokens')
    },
  )
}
