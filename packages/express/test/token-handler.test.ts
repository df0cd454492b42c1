import t from 'tap'
import type { ErrorRequestHandler } from 'express'
import express from 'express'
import { createServer } from 'node:http'
import type { TokenHandlerOptions } from '../src/index.js'
import { tokenHandler, wardenExpress } from '../src/index.js'
import { listen, open, testWarden } from './helpers.js'

t.test('issues a connect token to an authenticated request, 401 otherwise', async (t) => {
  const warden = testWarden(t, {
    tokens: { secret: 'another-test-secret-of-at-least-32-bytes', ttlSeconds: 30 },
  })
  const server = createServer()
  const { app } = wardenExpress(express(), { warden, server })
  server.on('request', app)
  app.post(
    '/api/ws-token',
    tokenHandler({
      warden,
      authenticate: (request) =>
        request.get('authorization') === 'Bearer alice'
          ? { userId: 'alice', permissions: [] }
          : undefined,
    }),
  )
  app.ws('/ws', () => {})
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

t.test('ttlSeconds, async authenticate, and errors go to next()', async (t) => {
  const warden = testWarden(t)
  const app = express()
  app.get(
    '/token',
    tokenHandler({
      warden,
      ttlSeconds: 10,
      authenticate: async () => ({ userId: 'bob', permissions: [] }),
    }),
  )
  app.get(
    '/broken',
    tokenHandler({
      warden,
      authenticate: async () => {
        throw new Error('session store down')
      },
    }),
  )
  const errors: string[] = []
  const onError: ErrorRequestHandler = (error: Error, _request, response, _next) => {
    errors.push(error.message)
    response.status(500).json({ error: 'internal' })
  }
  app.use(onError)
  const base = (await listen(t, createServer(app))).replace('ws:', 'http:')
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
