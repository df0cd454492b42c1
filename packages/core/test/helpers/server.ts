import type { Test } from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ServerOptions } from 'ws'
import WebSocket, { WebSocketServer } from 'ws'
import type { Connection, EndpointOptions, Principal, WardenOptions } from '../../src/index.js'
import { createWarden, handleUpgrade } from '../../src/index.js'

export const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'

/** A warden behind a bare Node HTTP server, the way the adapters wire it. */
export async function startServer<TData = Record<string, unknown>>(
  t: Test,
  options: Partial<WardenOptions<TData>> = {},
) {
  const warden = createWarden<TData>({ tokens: { secret: SECRET }, ...options })
  const wss = new WebSocketServer({ noServer: true, ...warden.wsOptions })
  const connections: Connection<TData>[] = []
  const server = createServer((_req, res) => res.writeHead(404).end())
  server.on('upgrade', (request, socket, head) => {
    void handleUpgrade(warden, wss, request, socket, head, {
      onConnection: (connection) => connections.push(connection),
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const url = `ws://127.0.0.1:${port}/ws`
  const clients = new Set<WebSocket>()
  t.teardown(async () => {
    for (const client of clients) client.terminate()
    await warden.close()
    wss.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  /** Issues a token and opens a client; resolves once the handshake has an answer. */
  async function connect(
    principal: Principal | string = 'alice',
    clientOptions: WebSocket.ClientOptions = {},
  ): Promise<Client> {
    const who = typeof principal === 'string' ? { userId: principal, permissions: [] } : principal
    const { token } = await warden.issueToken(who)
    return open(`${url}?ws_token=${token}`, clientOptions)
  }

  async function open(
    address: string,
    clientOptions: WebSocket.ClientOptions = {},
  ): Promise<Client> {
    const socket = new WebSocket(address, clientOptions)
    clients.add(socket)
    return Client.start(socket)
  }

  return { warden, url, port, connect, open, connections, server }
}

/**
 * A warden behind an HTTP server that completes every WebSocket handshake without admission and
 * hands the server's side of the socket to the test, which calls `admit` and `attach` itself (the
 * way a custom integration would). `serverOptions` go to the `ws` server as they are: without
 * `warden.wsOptions`, `ws` only applies its own 100 MiB `maxPayload`.
 */
export async function startManualServer<TData = Record<string, unknown>>(
  t: Test,
  options: Partial<WardenOptions<TData>> = {},
  serverOptions: ServerOptions = {},
) {
  const warden = createWarden<TData>({ tokens: { secret: SECRET }, ...options })
  const wss = new WebSocketServer({ ...serverOptions, noServer: true })
  const accepted: WebSocket[] = []
  const server = createServer((_req, res) => res.writeHead(404).end())
  server.on('upgrade', (request, socket, head) => {
    wss.handleUpgrade(request, socket, head, (ws) => accepted.push(ws))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const url = `ws://127.0.0.1:${port}/ws`
  const clients = new Set<WebSocket>()
  t.teardown(async () => {
    for (const client of clients) client.terminate()
    for (const socket of accepted) socket.terminate()
    await warden.close()
    wss.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  /** Admits `principal` as if it came from 127.0.0.1; the token is issued for the occasion. */
  async function admit(principal: Principal | string = 'alice', endpoint?: EndpointOptions) {
    const who = typeof principal === 'string' ? { userId: principal, permissions: [] } : principal
    const { token } = await warden.issueToken(who)
    const request = { url: `/ws?ws_token=${token}`, headers: {}, remoteAddress: '127.0.0.1' }
    return warden.admit(request, endpoint)
  }

  /** Opens a client and resolves with it and the server's side of its socket. */
  async function pair(clientOptions: WebSocket.ClientOptions = {}) {
    const before = accepted.length
    const socket = new WebSocket(url, clientOptions)
    clients.add(socket)
    const client = await Client.start(socket)
    await until(() => accepted.length > before)
    return { client, socket: accepted[before] as WebSocket }
  }

  return { warden, url, admit, pair }
}

/** A test client that records what it receives and how it ended. */
export class Client {
  readonly messages: Record<string, unknown>[] = []
  status: number | undefined
  retryAfter: string | undefined
  closed: Promise<{ code: number; reason: string }>
  private waiters: (() => void)[] = []

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    })
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as Record<string, unknown>)
      for (const wake of this.waiters.splice(0)) wake()
    })
    socket.on('unexpected-response', (_request, response) => {
      this.status = response.statusCode
      this.retryAfter = response.headers['retry-after']
      socket.terminate()
    })
    socket.on('error', () => {})
  }

  static async start(socket: WebSocket): Promise<Client> {
    const client = new Client(socket)
    await Promise.race([once(socket, 'open'), client.closed])
    if (socket.readyState === WebSocket.OPEN) client.status = 101
    return client
  }

  /** How the socket closed; throws if it is still open after `timeoutMs`. */
  async closedWithin(timeoutMs = 2_000): Promise<{ code: number; reason: string }> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('timed out waiting for the close')), timeoutMs)
    })
    try {
      return await Promise.race([this.closed, timeout])
    } finally {
      clearTimeout(timer)
    }
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
}

/**
 * Resolves when `check` is (or resolves to) true, polling; throws after `timeoutMs`. The bound
 * only ends a wait that will never succeed: a loaded CI machine (helpers' suites, 2 cores) has
 * taken longer than 2 s for a condition that held.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
