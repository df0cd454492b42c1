import type { Test } from 'tap'
import { Client } from '@ws-warden/testing'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'

/** A Fastify app closed in teardown, with every client opened through `open` terminated first. */
export function testApp(t: Test, options: FastifyServerOptions = {}) {
  const app = Fastify(options)
  const clients = new Set<WebSocket>()
  t.teardown(async () => {
    for (const client of clients) client.terminate()
    await app.close()
  })

  /** Starts listening on 127.0.0.1 and a free port; returns the base ws:// URL. */
  async function listen(): Promise<string> {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as AddressInfo
    return `ws://127.0.0.1:${port}`
  }

  async function open(
    address: string,
    clientOptions: WebSocket.ClientOptions = {},
  ): Promise<Client> {
    const socket = new WebSocket(address, clientOptions)
    clients.add(socket)
    return Client.start(socket)
  }

  return { app, listen, open }
}

export { Client, SECRET, testWarden, tokenFor, until } from '@ws-warden/testing'
export type { FastifyInstance }
