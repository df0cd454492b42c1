import { clientsOf, SECRET, unpositioned } from './helpers.js'
import { behavesAsOneService } from './one-service.js'
import { listening, run, stop } from './processes.js'
import {
  cleanRedis,
  cleanSql,
  MYSQL_URL,
  REDIS_URL,
  serviceTest,
  sqlTables,
  uniquePrefix,
} from './services.js'

await serviceTest('mysql', 'WARDEN_STORE=mysql: one process, its tables migrated', async (t) => {
  const prefix = uniquePrefix()
  t.teardown(() => cleanSql('mysql', prefix))
  const demo = run(t, {
    WARDEN_STORE: 'mysql',
    DATABASE_URL: MYSQL_URL,
    WARDEN_PREFIX: prefix,
    WARDEN_TOKEN_SECRET: SECRET,
  })
  const { http, login, token, open, connect } = clientsOf(t, await listening(demo))
  t.match(demo.stdout(), 'has no broker without REDIS_URL', 'it warns: one process only')
  t.ok((await sqlTables('mysql', prefix)).includes(`${prefix}_sessions`), 'tables of the prefix')

  const alice = await connect('alice')
  const bob = await connect('bob')
  for (const client of [alice, bob])
    await client.request({ type: 'join', channel: 'general' }, 'joined')
  alice.send({ type: 'say', channel: 'general', text: 'hello' })
  const said = { type: 'message', channel: 'general', from: 'alice', text: 'hello' }
  const toBob = await bob.next((m) => m.type === 'message', 5_000)
  t.same(unpositioned(toBob), said, 'to the other member')
  const toAlice = await alice.next((m) => m.type === 'message', 5_000)
  t.same(unpositioned(toAlice), said, 'and to the sender')
  const stats = (await (await http('/api/stats')).json()) as unknown
  t.same(stats, { connections: 2, users: 2, channels: { general: 2 } }, 'counted in MySQL')

  const query = `?ws_token=${await token(await login('carol'))}`
  t.equal((await open(query)).status, 101, 'a token used once')
  t.equal((await open(query)).status, 401, 'a token is single-use')
  t.equal(await stop(demo), 0, 'graceful shutdown')
})

await serviceTest(
  ['mysql', 'redis'],
  'WARDEN_STORE=mysql with REDIS_URL: two processes behave as one service (Redis broker)',
  (t) =>
    behavesAsOneService(t, {
      env: { WARDEN_STORE: 'mysql', DATABASE_URL: MYSQL_URL, REDIS_URL },
      adapters: ['express', 'koa'],
      clean: async (prefix) => {
        await cleanSql('mysql', prefix)
        await cleanRedis(prefix)
      },
    }),
)
