/**
 * A group of clients in their own process (so the server's figures are its own): opens
 * connections with bounded concurrency, counts deliveries, chats, or floods. Driven over IPC.
 */
import { ConnectTokens, TOKEN_QUERY_PARAM } from '@ws-warden/core'
import type { Socket } from 'socket.io-client'
import { WebSocket } from 'ws'
import { serve, workerConfig } from '../ipc.js'
import { percentile, wallNow } from '../stats.js'

export interface ClientsConfig {
  readonly name: string
}

export interface ConnectArgs {
  readonly url: string
  readonly protocol: 'ws' | 'socketio'
  readonly count: number
  /** Handshakes in flight at once. */
  readonly inflight: number
  /** Sign a single-use connect token per connection with this secret (ws-warden servers). */
  readonly secret?: string
  /** User ids are `<userPrefix><n>`, one per connection. */
  readonly userPrefix: string
  readonly timeoutMs: number
}

export interface ConnectResult {
  readonly ms: number
  readonly opened: number
  readonly failed: number
  readonly firstError?: string
}

export interface WaitResult {
  /** Wall time at which the last client had every expected message; NaN if some never did. */
  readonly doneAt: number
  readonly complete: number
  readonly received: number
}

export interface ChatArgs {
  /** Clients per room; room k holds clients [k*size, (k+1)*size) of this process. */
  readonly roomSize: number
  readonly roomPrefix: string
  /** Messages per second each client sends. */
  readonly rate: number
  readonly durationMs: number
}

export interface ChatResult {
  readonly sent: number
  readonly received: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

interface Client {
  readonly send: (text: string) => void
  readonly close: () => void
  received: number
  buffered: () => number
}

const config = workerConfig<ClientsConfig>()
let clients: Client[] = []
let expected = Number.POSITIVE_INFINITY
let complete = 0
let doneAt = Number.NaN
let onComplete: (() => void) | undefined
/** Latency samples of chat messages (ms), when chatting. */
let latencies: number[] | undefined
let joinedWaiters = 0
let onJoined: (() => void) | undefined

function received(client: Client, text: string | undefined): void {
  client.received++
  if (client.received === expected) {
    complete++
    if (complete === clients.length) {
      doneAt = wallNow()
      onComplete?.()
    }
  }
  if (text === undefined) return
  if (latencies && text.startsWith('{"type":"chat"')) {
    const t = Number(/"t":([\d.]+)/.exec(text)?.[1])
    if (Number.isFinite(t)) latencies.push(wallNow() - t)
  } else if (text === '{"type":"joined"}') {
    joinedWaiters--
    if (joinedWaiters === 0) onJoined?.()
  }
}

async function connect(args: ConnectArgs): Promise<ConnectResult> {
  const tokens =
    args.secret === undefined
      ? undefined
      : new ConnectTokens({ secret: args.secret, ttlSeconds: 600 })
  const base = clients.length
  // Tokens are signed before the clock starts: the client's signing cost is not the server's.
  const urls: string[] = []
  for (let i = 0; i < args.count; i++) {
    if (!tokens) {
      urls.push(args.url)
      continue
    }
    const { token } = await tokens.issue({
      userId: `${args.userPrefix}${base + i}`,
      permissions: [],
    })
    urls.push(`${args.url}?${TOKEN_QUERY_PARAM}=${encodeURIComponent(token)}`)
  }
  let next = 0
  let opened = 0
  let failed = 0
  let firstError: string | undefined
  const deadline = Date.now() + args.timeoutMs
  const io = args.protocol === 'socketio' ? (await import('socket.io-client')).io : undefined
  const start = performance.now()
  const one = (url: string): Promise<void> =>
    new Promise((resolve) => {
      let settled = false
      const timer = setTimeout(() => fail('handshake timed out'), 30_000)
      const done = (): void => {
        settled = true
        clearTimeout(timer)
        resolve()
      }
      const fail = (why: string): void => {
        if (settled) return
        failed++
        firstError ??= why
        done()
      }
      if (args.protocol === 'ws') {
        const socket = new WebSocket(url, { perMessageDeflate: false })
        const client: Client = {
          send: (text) => socket.send(text),
          close: () => socket.terminate(),
          received: 0,
          buffered: () => socket.bufferedAmount,
        }
        socket.on('message', (data) =>
          received(client, latencies || joinedWaiters > 0 ? String(data) : undefined),
        )
        socket.once('open', () => {
          if (settled) return socket.terminate()
          opened++
          clients.push(client)
          done()
        })
        socket.once('unexpected-response', (_, response) => {
          socket.terminate()
          fail(`HTTP ${response.statusCode ?? '?'}`)
        })
        socket.on('error', (error) => fail(error.message))
      } else if (io) {
        const socket: Socket = io(url, {
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          timeout: 20_000,
        })
        const client: Client = {
          send: (text) => socket.emit('chat', text),
          close: () => socket.disconnect(),
          received: 0,
          buffered: () => 0,
        }
        socket.on('m', () => received(client, undefined))
        socket.once('connect', () => {
          if (settled) return void socket.disconnect()
          opened++
          clients.push(client)
          done()
        })
        socket.once('connect_error', (error) => fail(error.message))
      }
    })
  await Promise.all(
    Array.from({ length: Math.max(1, args.inflight) }, async () => {
      while (next < urls.length && Date.now() < deadline) await one(urls[next++] as string)
    }),
  )
  return {
    ms: performance.now() - start,
    opened,
    failed,
    ...(firstError !== undefined && { firstError }),
  }
}

function arm(args: { count: number }): { clients: number } {
  expected = args.count
  complete = 0
  doneAt = Number.NaN
  for (const client of clients) client.received = 0
  return { clients: clients.length }
}

function wait(args: { timeoutMs: number }): Promise<WaitResult> {
  const result = (): WaitResult => ({
    doneAt,
    complete,
    received: clients.reduce((sum, client) => sum + client.received, 0),
  })
  if (complete === clients.length) return Promise.resolve(result())
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      onComplete = undefined
      resolve(result())
    }, args.timeoutMs)
    onComplete = () => {
      clearTimeout(timer)
      onComplete = undefined
      resolve(result())
    }
  })
}

async function join(args: {
  roomSize: number
  roomPrefix: string
  timeoutMs: number
}): Promise<{ joined: number }> {
  joinedWaiters = clients.length
  const done = new Promise<void>((resolve) => {
    onJoined = resolve
    setTimeout(resolve, args.timeoutMs).unref()
  })
  clients.forEach((client, i) => {
    client.send(
      JSON.stringify({
        type: 'join',
        channel: `${args.roomPrefix}${Math.floor(i / args.roomSize)}`,
      }),
    )
  })
  await done
  return { joined: clients.length - joinedWaiters }
}

/** Every client sends `rate` messages a second to its room, staggered; receivers time them. */
async function chat(args: ChatArgs): Promise<ChatResult> {
  latencies = []
  let sent = 0
  const interval = 1000 / args.rate
  const timers: NodeJS.Timeout[] = []
  clients.forEach((client, i) => {
    const channel = `${args.roomPrefix}${Math.floor(i / args.roomSize)}`
    const first = setTimeout(
      () => {
        const tick = (): void => {
          client.send(`{"type":"chat","channel":"${channel}","t":${wallNow()}}`)
          sent++
        }
        tick()
        timers.push(setInterval(tick, interval))
      },
      (i / clients.length) * interval,
    )
    timers.push(first)
  })
  await new Promise((resolve) => setTimeout(resolve, args.durationMs))
  for (const timer of timers) clearTimeout(timer)
  await new Promise((resolve) => setTimeout(resolve, 200))
  const samples = latencies.sort((a, b) => a - b)
  latencies = undefined
  return {
    sent,
    received: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: samples[samples.length - 1] ?? Number.NaN,
  }
}

/**
 * The first client sends chat messages as fast as its socket drains, for `durationMs`. With 1 MiB
 * unsent it waits a millisecond instead of spinning: a flooder that burns a core of a 2-core
 * machine would measure the CPU contention, not the server's defence.
 */
async function flood(args: { durationMs: number; channel: string }): Promise<{ sent: number }> {
  const client = clients[0]
  if (!client) return { sent: 0 }
  let sent = 0
  const end = Date.now() + args.durationMs
  const text = `{"type":"chat","channel":"${args.channel}","t":0,"pad":"${'x'.repeat(60)}"}`
  await new Promise<void>((resolve) => {
    const burst = (): void => {
      if (Date.now() >= end) return resolve()
      let i = 0
      for (; i < 200 && client.buffered() < 1 << 20; i++) {
        client.send(text)
        sent++
      }
      if (i === 200) setImmediate(burst)
      else setTimeout(burst, 1)
    }
    burst()
  })
  return { sent }
}

function closeAll(): { closed: number } {
  const closed = clients.length
  for (const client of clients) client.close()
  clients = []
  return { closed }
}

serve(
  { connect, arm, wait, join, chat, flood, close: closeAll },
  { name: config.name, pid: process.pid },
  async () => {
    closeAll()
  },
)
