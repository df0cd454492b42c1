// The adapter conformance kit of @ws-warden/testing, run against the Koa adapter.
import t from 'tap'
import Router from '@koa/router'
import { adapterConformance } from '@ws-warden/testing'
import Koa from 'koa'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tokenHandler, wardenKoa } from '../src/index.js'

adapterConformance(t, async ({ warden, trustProxy, log, handleProtocols }) => {
  const app = new Koa()
  app.proxy = trustProxy
  const server = createServer()
  const { ws } = wardenKoa(app, { warden, server, wsOptions: { handleProtocols } })
  // An access log: the URL every request ends with.
  app.use(async (ctx, next) => {
    try {
      await next()
    } finally {
      log(ctx.originalUrl)
    }
  })
  const router = new Router()
  router.post(
    '/ws-token',
    tokenHandler({
      warden,
      authenticate: (ctx) => {
        const user = ctx.get('x-user')
        return user === '' ? undefined : { userId: user, permissions: [] }
      },
    }),
  )
  router.get(
    '/ws',
    ws((connection) => {
      connection.send({ type: 'welcome', user: connection.userId, ip: connection.ip })
    }),
  )
  app.use(router.routes())
  server.on('request', app.callback())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      ),
  }
})
