import type { Test } from 'tap'
import t from 'tap'
import type { Principal, Warden, WardenOptions } from '@ws-warden/core'
import { once } from 'node:events'
import WebSocket from 'ws'
import type { Adapter } from './adapters.js'
import { selected } from './adapters.js'

export const SECRET = 'an-e2e-test-secret-that-is-at-least-32-bytes'

/** Runs `suite` once per adapter, unchanged, each in its own subtest named after the adapter. */
export function eachAdapter(suite: (t: Test, adapter: Adapter) => void): void {
  for (const adapter of selected) {
    t.test(adapter.name, async (t) => suite(t, adapter))
  }
}

/** A started app with a test's conveniences; everything is closed in teardown. */
export type App = Awaited<ReturnType<typeof start>>

/**
 * Starts the adapter's app with a warden made of test-friendly defaults and `options`. `close()`
 * may be called by the test; teardown calls it again harmlessly.
 */
export async function start(t: Test, adapter: Adapter, options: Partial<WardenOptions> = {}) {
  const started = await adapter.start({
    tokens: { secret: SECRET },
    shutdown: { drainMs: 0, timeoutMs: 2_000 },
    ...options,
  })
  const { warden, url } = started
  const clients = new Set<WebSocket>()
  let closing: Promise<void> | undefined
  const close = () => (closing ??= started.close())
  t.teardown(async () => {
    for (const client of clients) client.terminate()
    await close()
  })

  /** Opens a client on `path` (with its query); resolves once the handshake has an answer. */
  async function open(path: string, clientOptions: WebSocket.ClientOptions = {}): Promise<Client> {
    const socket = new WebSocket(`${url}${path}`, clientOptions)
    clients.add(socket)
    return Client.start(socket)
  }

  /** Issues a fresh token for `who` and opens `/ws` (or `path`) with it. */
  async function connect(
    who: Principal | string = 'alice',
    clientOptions: WebSocket.ClientOptions = {},
    path = '/ws',
  ): Promise<Client> {
    return open(`${path}?ws_token=${await tokenFor(warden, who)}`, clientOptions)
  }

  return { warden, url, http: url.replace('ws:', 'http:'), open, connect, close }
}

/** Issues a token for a user (a bare id means no permissions). */
export async function tokenFor(warden: Warden, who: Principal | string): Promise<string> {
  const principal = typeof who === 'string' ? { userId: who, permissions: [] } : who
  return (await warden.issueToken(principal)).token
}

/** A test client that records what it receives and how its handshake or connection ended. */
export class Client {
  readonly messages: Record<string, unknown>[] = []
  /** 101 once open, or the HTTP status of a refused handshake. */
  status: number | undefined
  retryAfter: string | undefined
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
  async next(match: (message: Record<string, unknown>) => boolean, timeoutMs = 2_000) {
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
