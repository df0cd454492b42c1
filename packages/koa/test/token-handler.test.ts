import t from 'tap'
import Router from '@koa/router'
import Koa from 'koa'
import { createServer } from 'node:http'
import type { TokenHandlerOptions } from '../src/index.js'
import { tokenHandler, wardenKoa } from '../src/index.js'
import { listen, open, testWarden } from './helpers.js'

t.test('issues a connect token to an authenticated request, 401 otherwise', async (t) => {
  const warden = testWarden(t, {
    tokens: { secret: 'another-test-secret-of-at-least-32-bytes', ttlSeconds: 30 },
  })
  const app = new Koa()
  const router = new Router()
  const server = createServer()
  const { ws } = wardenKoa(app, { warden, server })
  router.post(
    '/api/ws-token',
    tokenHandler({
      warden,
      authenticate: (ctx) =>
        ctx.get('authorization') === 'Bearer alice'
          ? { userId: 'alice', permissions: [] }
          : undefined,
    }),
  )
  router.get(
    '/ws',
    ws(() => {}),
  )
  app.use(router.routes())
  server.on('request', app.callback())
  const base = await listen(t, server)
  const endpoint = `${base.replace('ws:', 'http:')}/api/ws-token`

  const anonymous = await fetch(endpoint, { method: 'POST' })
  t.equal(anonymous.status, 401)
  t.same(await anonymous.json(), { error: 'unauthorized' })

  const issued = await fetch(endpoint, {
    method: 'POST',
    headers: { authorization: 'Bearer alice' },
  })
  t.equal(issued.status, 200)
  t.equal(issued.headers.get('cache-control'), 'no-store')
  const body = (await issued.json()) as { token: string; expiresIn: number }
  t.same(Object.keys(body).sort(), ['expiresIn', 'token'])
  t.equal(body.expiresIn, 30, "the warden's token lifetime")
  const client = await open(t, `${base}/ws?ws_token=${body.token}`)
  t.equal(client.status, 101, 'the token opens a connection')
})

t.test('ttlSeconds, ctx.state.user, and errors go to Koa', async (t) => {
  const warden = testWarden(t)
  const app = new Koa()
  const errors: string[] = []
  app.on('error', (error: Error) => errors.push(error.message))
  app.use(async (ctx, next) => {
    ctx.state.user = { userId: 'bob', permissions: [] }
    await next()
  })
  const router = new Router()
  router.get(
    '/token',
    tokenHandler({ warden, ttlSeconds: 10, authenticate: (ctx) => ctx.state.user }),
  )
  router.get(
    '/broken',
    tokenHandler({
      warden,
      authenticate: async () => {
        throw new Error('session store down')
      },
    }),
  )
  app.use(router.routes())
  const base = (await listen(t, createServer(app.callback()))).replace('ws:', 'http:')
  const response = await fetch(`${base}/token`)
  t.equal(((await response.json()) as { expiresIn: number }).expiresIn, 10)
  t.equal((await fetch(`${base}/broken`)).status, 500)
  t.same(errors, ['session store down'])
})

t.test('options are validated with errors that name them', async (t) => {
  const warden = testWarden(t)
  const cases: [unknown, RegExp][] = [
    [undefined, /tokenHandler option warden must be a Warden/],
    [{ warden }, /tokenHandler option authenticate must be a function/],
  ]
  for (const [options, message] of cases) {
    t.throws(() => tokenHandler(options as TokenHandlerOptions), { name: 'TypeError', message })
  }
})
