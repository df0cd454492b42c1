/**
 * Test helpers shared by the adapter packages (Fastify, Express, Koa): one recording `ws` client,
 * one warden with test defaults, one polling wait.
 *
 * @module
 */
import type { Principal, Warden, WardenOptions } from '@ws-warden/core'
import { createWarden } from '@ws-warden/core'
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'

export const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'

/** The part of a test runner's test object these helpers use (tap's `t` fits). */
export interface Teardown {
  teardown(fn: () => unknown): void
}

/** A warden with test-friendly defaults; closed in teardown. */
export function testWarden(t: Teardown, options: Partial<WardenOptions> = {}): Warden {
  const warden = createWarden({ tokens: { secret: SECRET }, shutdown: { drainMs: 0 }, ...options })
  t.teardown(() => warden.close())
  return warden
}

/** Listens on 127.0.0.1 and a free port; closed in teardown. Returns the base ws:// URL. */
export async function listen(t: Teardown, server: Server): Promise<string> {
  if (!server.listening) {
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
  }
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Issues a token for a user (a bare id means no permissions). */
export async function tokenFor(warden: Warden, who: Principal | string): Promise<string> {
  const principal = typeof who === 'string' ? { userId: who, permissions: [] } : who
  return (await warden.issueToken(principal)).token
}

/** Opens a client, terminated in teardown; resolves once the handshake has an answer. */
export async function open(
  t: Teardown,
  address: string,
  options: WebSocket.ClientOptions = {},
): Promise<Client> {
  const socket = new WebSocket(address, options)
  t.teardown(() => socket.terminate())
  return Client.start(socket)
}

/** A test client that records what it receives and how its handshake or connection ended. */
export class Client {
  readonly messages: Record<string, unknown>[] = []
  /** 101 once open, or the HTTP status of a refused handshake. */
  status: number | undefined
  retryAfter: string | undefined
  /** A refused handshake's body: parsed when it is JSON. */
  body: unknown
  readonly closed: Promise<{ code: number; reason: string }>
  private waiters: (() => void)[] = []

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    })
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as Record<string, unknown>)
      for (const wake of this.waiters.splice(0)) wake()
    })
    socket.on('error', () => {})
  }

  static async start(socket: WebSocket): Promise<Client> {
    const client = new Client(socket)
    const refused = new Promise<void>((resolve) => {
      socket.on('unexpected-response', (_request, response) => {
        client.status = response.statusCode
        client.retryAfter = response.headers['retry-after']
        let text = ''
        response.on('data', (chunk: Buffer) => (text += chunk.toString()))
        response.on('end', () => {
          const json = response.headers['content-type']?.startsWith('application/json')
          client.body = json ? JSON.parse(text) : text
          socket.terminate()
          resolve()
        })
      })
    })
    await Promise.race([once(socket, 'open'), refused, client.closed])
    if (socket.readyState === WebSocket.OPEN) client.status = 101
    return client
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  /** Waits (at most `timeoutMs`) until a received message matches. */
  async next(
    match: (message: Record<string, unknown>) => boolean,
    timeoutMs = 2_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.messages.find(match)
      if (found) return found
      const left = deadline - Date.now()
      if (left <= 0) throw new Error('timed out waiting for a message')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  ofType(type: string): Record<string, unknown>[] {
    return this.messages.filter((message) => message.type === type)
  }

  /** Pauses reading: the kernel buffers fill and the server sees a slow (or stuck) peer. */
  stopReading(): void {
    ;(this.socket as unknown as { _socket: { pause(): void } })._socket.pause()
  }
}

/** Resolves when `check` holds, polling; throws after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 2_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
