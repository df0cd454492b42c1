// The adapter conformance kit of @ws-warden/testing, run against the Fastify plugin.
import t from 'tap'
import { adapterConformance } from '@ws-warden/testing'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { tokenRoute, wardenFastify } from '../src/index.js'

adapterConformance(t, async ({ warden, trustProxy, log, handleProtocols }) => {
  // Fastify's request log: every "incoming request" line carries the request's URL.
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const url = (JSON.parse(line) as { req?: { url?: string } }).req?.url
        if (url !== undefined) log(url)
      }
      done()
    },
  })
  const app = Fastify({
    logger: { level: 'info', stream },
    ...(trustProxy && { trustProxy: '127.0.0.1' }),
  })
  await app.register(wardenFastify, { warden, websocket: { options: { handleProtocols } } })
  tokenRoute(app, {
    authenticate: (request) => {
      const user = request.headers['x-user']
      return typeof user === 'string' ? { userId: user, permissions: [] } : undefined
    },
  })
  app.get('/ws', { websocket: true, warden: true }, (connection) => {
    connection.send({ type: 'welcome', user: connection.userId, ip: connection.ip })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() }
})
