import t from 'tap'
import Fastify from 'fastify'
import type { TokenRouteOptions } from '../src/index.js'
import { tokenRoute, wardenFastify } from '../src/index.js'
import { testApp, testWarden } from './helpers.js'

t.test('issues a connect token to an authenticated request, 401 otherwise', async (t) => {
  const warden = testWarden(t, {
    tokens: { secret: 'another-test-secret-of-at-least-32-bytes', ttlSeconds: 30 },
  })
  const { app, listen, open } = testApp(t)
  await app.register(wardenFastify, { warden })
  app.get('/ws', { websocket: true, warden: true }, () => {})
  tokenRoute(app, {
    url: '/api/ws-token',
    authenticate: (request) =>
      request.headers.authorization === 'Bearer alice'
        ? { userId: 'alice', permissions: [] }
        : undefined,
  })
  const base = await listen()

  const anonymous = await app.inject({ method: 'POST', url: '/api/ws-token' })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), { error: 'unauthorized' })

  const issued = await app.inject({
    method: 'POST',
    url: '/api/ws-token',
    headers: { authorization: 'Bearer alice' },
  })
  t.equal(issued.statusCode, 200)
  t.equal(issued.headers['cache-control'], 'no-store')
  const body = issued.json<{ token: string; expiresIn: number }>()
  t.same(Object.keys(body).sort(), ['expiresIn', 'token'])
  t.equal(body.expiresIn, 30, "the warden's token lifetime")
  const client = await open(`${base}/ws?ws_token=${body.token}`)
  t.equal(client.status, 101, 'the token opens a connection')
  t.same(
    [...warden.connections()].map((c) => c.userId),
    ['alice'],
  )
})

t.test('default url, async authenticate and ttlSeconds', async (t) => {
  const warden = testWarden(t)
  const { app } = testApp(t)
  await app.register(wardenFastify, { warden })
  tokenRoute(app, {
    ttlSeconds: 10,
    authenticate: async () => ({ userId: 'bob', permissions: ['chat'] }),
  })
  const response = await app.inject({ method: 'POST', url: '/ws-token' })
  t.equal(response.statusCode, 200)
  t.equal(response.json<{ expiresIn: number }>().expiresIn, 10)
})

t.test('options are validated with errors that name them', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const authenticate = () => undefined
  const cases: [unknown, RegExp][] = [
    [undefined, /option authenticate must be a function/],
    [{ url: 'ws-token', authenticate }, /option url must be a path/],
  ]
  for (const [options, message] of cases) {
    t.throws(() => tokenRoute(app, options as TokenRouteOptions), { name: 'TypeError', message })
  }
})

t.test('without the plugin, the app refuses to start', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  tokenRoute(app, { authenticate: () => undefined })
  await t.rejects(async () => {
    await app.ready()
  }, /tokenRoute needs the plugin registered/)
})
