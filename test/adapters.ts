/**
 * One entry per adapter: each starts the same app (two governed routes) on a real listener, so
 * every suite runs unchanged against Fastify, Express and Koa. Set `WARDEN_ADAPTER` to run one.
 */
import type { Connection, Warden, WardenOptions } from '@ws-warden/core'
import { createWarden } from '@ws-warden/core'
import { wardenExpress } from '@ws-warden/express'
import { wardenFastify } from '@ws-warden/fastify'
import { wardenKoa } from '@ws-warden/koa'
import express from 'express'
import Fastify from 'fastify'
import Koa from 'koa'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A started app: `url` is `ws://127.0.0.1:<port>`; `close()` closes it the framework's way. */
export interface Started {
  readonly url: string
  readonly warden: Warden
  close(): Promise<void>
}

export interface Adapter {
  readonly name: 'fastify' | 'express' | 'koa'
  /**
   * Serves `/ws` (governed, the warden's permissions) and `/staff` (also needs `staff`); each
   * handler greets its connection with `{ type: 'welcome', user, path }`.
   */
  start(options: WardenOptions): Promise<Started>
}

const welcome = (connection: Connection, path: string): void =>
  void connection.send({ type: 'welcome', user: connection.userId, path })
const staff = { permissions: ['staff'] }

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** `server.close()` (which the Express and Koa adapters hook to close the warden), awaited. */
const closeServer = (server: Server) => () =>
  new Promise<void>((resolve, reject) =>
    server.close((error) => (error ? reject(error) : resolve())),
  )

export const adapters: readonly Adapter[] = [
  {
    name: 'fastify',
    async start(options) {
      const warden = createWarden(options)
      const app = Fastify()
      await app.register(wardenFastify, { warden })
      app.get('/ws', { websocket: true, warden: true }, (connection, request) =>
        welcome(connection, request.routeOptions.url ?? ''),
      )
      app.get('/staff', { websocket: true, warden: staff }, (connection, request) =>
        welcome(connection, request.routeOptions.url ?? ''),
      )
      await app.listen({ host: '127.0.0.1', port: 0 })
      const { port } = app.server.address() as AddressInfo
      return { url: `ws://127.0.0.1:${port}`, warden, close: () => app.close() }
    },
  },
  {
    name: 'express',
    async start(options) {
      const warden = createWarden(options)
      const server = createServer()
      const { app } = wardenExpress(express(), { warden, server })
      app.ws('/ws', (connection, request) => welcome(connection, request.path))
      app.ws('/staff', staff, (connection, request) => welcome(connection, request.path))
      server.on('request', app)
      return { url: await listen(server), warden, close: closeServer(server) }
    },
  },
  {
    name: 'koa',
    async start(options) {
      const warden = createWarden(options)
      const app = new Koa()
      const server = createServer()
      const { ws } = wardenKoa(app, { warden, server })
      const routes = { '/ws': ws(welcomeCtx), '/staff': ws(staff, welcomeCtx) }
      app.use((ctx, next) => routes[ctx.path as keyof typeof routes]?.(ctx, next) ?? next())
      server.on('request', app.callback())
      return { url: await listen(server), warden, close: closeServer(server) }
    },
  },
]

function welcomeCtx(connection: Connection, ctx: { path: string }): void {
  welcome(connection, ctx.path)
}

/** The adapters to run: all, or the one `WARDEN_ADAPTER` names. */
export const selected: readonly Adapter[] = adapters.filter(
  (adapter) => !process.env.WARDEN_ADAPTER || adapter.name === process.env.WARDEN_ADAPTER,
)
