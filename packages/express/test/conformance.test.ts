// The adapter conformance kit of @ws-warden/testing, run against the Express adapter.
import t from 'tap'
import { adapterConformance } from '@ws-warden/testing'
import express from 'express'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tokenHandler, wardenExpress } from '../src/index.js'

adapterConformance(t, async ({ warden, trustProxy, log, handleProtocols }) => {
  const server = createServer()
  const { app } = wardenExpress(express(), { warden, server, wsOptions: { handleProtocols } })
  if (trustProxy) app.set('trust proxy', 'loopback')
  // An access log: the URL every request ends with.
  app.use((request, response, next) => {
    response.on('finish', () => log(request.originalUrl))
    next()
  })
  app.post(
    '/ws-token',
    tokenHandler({
      warden,
      authenticate: (request) => {
        const user = request.get('x-user')
        return user === undefined ? undefined : { userId: user, permissions: [] }
      },
    }),
  )
  app.ws('/ws', (connection) => {
    connection.send({ type: 'welcome', user: connection.userId, ip: connection.ip })
  })
  server.on('request', app)
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
