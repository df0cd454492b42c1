import type { Test } from 'tap'
import { once } from 'node:events'
import WebSocket from 'ws'
import type { Adapter, DemoConfig } from '../src/config.js'
import { parseConfig } from '../src/config.js'
import type { StartOptions } from '../src/start.js'
import { start } from '../src/start.js'

export const SECRET = 'a-demo-test-secret-of-at-least-32-bytes'

/** The adapter the tests run on: `WARDEN_ADAPTER`, Fastify by default. */
export const ADAPTER = (process.env.WARDEN_ADAPTER ?? 'fastify') as Adapter

/**
 * The demo on 127.0.0.1 and a free port, on {@link ADAPTER} unless `env` names another, closed
 * in teardown with every client it opened.
 */
export async function startDemo(
  t: Test,
  env: Record<string, string> = {},
  options: StartOptions = {},
) {
  const config: DemoConfig = parseConfig({
    WARDEN_TOKEN_SECRET: SECRET,
    HOST: '127.0.0.1',
    PORT: '0',
    WARDEN_ADAPTER: ADAPTER,
    ...env,
  })
  const demo = await start(config, { logger: false, ...options })
  t.teardown(() => demo.close())
  return { demo, ...clientsOf(t, demo.url) }
}

/**
 * What a browser does against a demo at `base` (in this process or another): HTTP calls, login,
 * tokens and sockets; the sockets are terminated in teardown.
 */
export function clientsOf(t: Test, base: string) {
  const sockets = new Set<WebSocket>()
  t.teardown(() => {
    for (const socket of sockets) socket.terminate()
  })
  const port = Number(new URL(base).port)

  /** `fetch` against the demo. */
  const http = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init)

  /** Logs in; returns the session cookie. */
  async function login(user: string): Promise<string> {
    const response = await http('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user }),
    })
    if (response.status !== 204) throw new Error(`login answered ${response.status}`)
    const cookie = response.headers.get('set-cookie')?.split(';')[0]
    if (!cookie) throw new Error('login set no cookie')
    return cookie
  }

  async function token(cookie: string): Promise<string> {
    const response = await http('/api/ws-token', { method: 'POST', headers: { cookie } })
    if (response.status !== 200) throw new Error(`ws-token answered ${response.status}`)
    return ((await response.json()) as { token: string }).token
  }

  /** Opens a socket on /ws with a query and headers of its own. */
  async function open(query: string, headers: Record<string, string> = {}): Promise<Client> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws${query}`, { headers })
    sockets.add(socket)
    return Client.start(socket)
  }

  /** Logs in, fetches a token and connects, as the page does; waits for the welcome. */
  async function connect(user: string): Promise<Client> {
    const cookie = await login(user)
    const client = await open(`?ws_token=${await token(cookie)}`, { cookie })
    if (client.status !== 101) throw new Error(`connect answered ${client.status}`)
    await client.next((m) => m.type === 'welcome')
    return client
  }

  return { base, port, http, login, token, open, connect }
}

/** A test client that records what it receives and how its handshake or connection ended. */
export class Client {
  readonly messages: Record<string, unknown>[] = []
  /** 101 once open, or the HTTP status of a refused handshake. */
  status: number | undefined
  retryAfter: string | undefined
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

  /** Sends a message and waits for the first reply of a type after it. */
  async request(message: unknown, type: string): Promise<Record<string, unknown>> {
    const seen = this.messages.length
    this.send(message)
    return this.next((m) => m.type === type && this.messages.indexOf(m) >= seen)
  }
}

/**
 * A message without its stream position: with resumption on, every fan-out frame carries `$s`
 * (its stream) and `$q` (its place in it), which the client keeps to resume from.
 */
export function unpositioned(message: Record<string, unknown>): Record<string, unknown> {
  const { $s: _stream, $q: _seq, ...rest } = message
  return rest
}

/** Resolves when `check` holds, polling; throws after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 2_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
