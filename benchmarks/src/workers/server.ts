/**
 * A server under test, in its own process: raw `ws`, ws-warden (bare Node, Fastify, Express,
 * Koa) on one kind of store, a framework's own WebSocket support without ws-warden, or
 * Socket.IO 4. Driven over IPC by the runner.
 */
import type { Connection, Envelope, Warden, WardenOptions } from '@ws-warden/core'
import { createWarden, handleUpgrade } from '@ws-warden/core'
import type * as ExpressAdapter from '@ws-warden/express'
import type * as KoaAdapter from '@ws-warden/koa'
import type { Redis } from 'ioredis'
import { createServer } from 'node:http'
import { Session } from 'node:inspector/promises'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import type { WebSocket } from 'ws'
import { WebSocketServer } from 'ws'
import { serve, workerConfig } from '../ipc.js'
import type { BareFrameworkKind } from '../kinds.js'
import { isBareFramework } from '../kinds.js'
import type { OpenedStores } from '../open-stores.js'
import type { StoreKind } from '../services.js'
import { NATS_URL, REDIS_URL } from '../services.js'
import { wallNow } from '../stats.js'

export type ServerKind =
  'ws' | 'warden' | 'fastify' | 'express' | 'koa' | 'socketio' | BareFrameworkKind

export interface ServerConfig {
  readonly kind: ServerKind
  readonly store: StoreKind
  /** Redis prefix / SQL schema or table prefix of this run. */
  readonly name: string
  readonly secret: string
  /** Heartbeat interval (warden) or ping interval (Socket.IO); 0 turns the warden's off. */
  readonly heartbeatMs?: number
  /** Fan-out across instances: the warden's Redis broker, or Socket.IO's Redis adapter. */
  readonly redisFanout?: boolean
  /** Fan-out across instances through a NATS broker instead (warden kinds only). */
  readonly natsFanout?: boolean
  /** A channel (room) every connection joins when it opens. */
  readonly autoJoin?: string
  /** Redis Cluster seeds: the Redis stores (and broker) on that cluster instead of REDIS_URL. */
  readonly redisCluster?: readonly string[]
  /**
   * The warden's session store without its `removeMany`: every close removes its record on its
   * own, as before the batching (the other side of the closes benchmark's A/B).
   */
  readonly removeOneByOne?: boolean
}

export interface ServerReady {
  readonly port: number
  readonly pid: number
}

export interface ServerStats {
  readonly rss: number
  readonly heapUsed: number
  /** The V8 heap as committed (used and free pages); RSS beyond it is outside the V8 heap. */
  readonly heapTotal: number
  readonly external: number
  readonly arrayBuffers: number
  /** CPU time used by the process so far, user + system, in microseconds. */
  readonly cpuMicros: number
  readonly connections: number
  readonly at: number
}

export interface BroadcastArgs {
  readonly target: 'all' | 'channel'
  readonly channel: string
  readonly count: number
  readonly bytes: number
}

/** What a governed or raw server must be able to do for the benchmarks. */
interface Target {
  connections(): number
  /** Records in the session store (a warden on a shared store; 0 elsewhere). */
  storedSessions?(): Promise<number>
  broadcast(args: BroadcastArgs): void
  close(): Promise<void>
}

const require = createRequire(import.meta.url)
const config = workerConfig<ServerConfig>()

const LIMITS = {
  connectAttemptsPerIp: 1_000_000_000,
  connectAttemptsPerUser: 1_000_000_000,
  connectionsPerUser: 1_000_000,
  connectionsPerIp: 1_000_000,
  maxConnections: 1_000_000,
}

/** A JSON text message of exactly `bytes` bytes (for bytes >= 24). */
export function paddedJson(bytes: number): string {
  return JSON.stringify({ type: 'm', d: 'x'.repeat(Math.max(0, bytes - 20)) })
}

interface ChatMessage extends Envelope {
  readonly channel?: unknown
  readonly t?: unknown
}

/** Fan-outs whose broker publish rejected (store_unavailable). */
let fanoutErrors = 0

async function wardenTarget(): Promise<{ target: Target; port: number }> {
  let stores: OpenedStores | undefined
  if (config.store !== 'memory' || config.redisFanout) {
    // Loaded on demand: a server process only pays for the modules it uses.
    const { openStores } = await import('../open-stores.js')
    stores = await openStores(config.store, config.name, {
      broker: config.redisFanout === true,
      ...(config.redisCluster && { cluster: config.redisCluster }),
    })
  }
  if (config.natsFanout && stores) stores = await withNatsBroker(stores)
  // Shadowed on the instance: the admission store must keep working on this very object.
  if (config.removeOneByOne && stores) {
    Object.defineProperty(stores.sessions, 'removeMany', { value: undefined })
  }
  const heartbeatMs = config.heartbeatMs
  const options: WardenOptions = {
    tokens: { secret: config.secret },
    ...(stores && {
      stores: {
        sessions: stores.sessions,
        tokens: stores.tokens,
        rateLimits: stores.rateLimits,
        ...(stores.broker && { broker: stores.broker }),
        ...(stores.admission && { admission: stores.admission }),
      },
    }),
    limits: LIMITS,
    ...(heartbeatMs !== undefined && {
      heartbeat:
        heartbeatMs === 0
          ? false
          : { intervalMs: heartbeatMs, timeoutMs: Math.min(10_000, Math.floor(heartbeatMs * 0.9)) },
    }),
    handlers: {
      join: async ({ connection, message, warden, reply }) => {
        const channel = (message as ChatMessage).channel
        if (typeof channel === 'string') await warden.join(connection, channel)
        reply({ type: 'joined' })
      },
      chat: ({ message, warden }) => {
        const { channel, t } = message as ChatMessage
        if (typeof channel === 'string') void warden.toChannel(channel, { type: 'chat', t })
      },
    },
    ...(config.autoJoin !== undefined && {
      hooks: {
        onConnect: (connection: Connection) =>
          void warden.join(connection, config.autoJoin as string),
      },
    }),
  }
  const warden: Warden = createWarden(options)
  await warden.ready()
  const broadcast = (args: BroadcastArgs): void => {
    const message = JSON.parse(paddedJson(args.bytes)) as Envelope
    for (let i = 0; i < args.count; i++) {
      const sent =
        args.target === 'all' ? warden.broadcast(message) : warden.toChannel(args.channel, message)
      // A broker publish can fail (or time out) under load: counted, never fatal to the bench.
      sent.catch(() => void fanoutErrors++)
    }
  }
  const count = (): number => {
    let n = 0
    for (const _ of warden.connections()) n++
    return n
  }
  const storedSessions = (): Promise<number> =>
    stores ? stores.sessions.count() : Promise.resolve(0)
  const closeAll = async (): Promise<void> => {
    await warden.close()
    await stores?.close()
  }
  const handler = (): void => undefined

  if (config.kind === 'warden') {
    const wss = new WebSocketServer({ noServer: true, ...warden.wsOptions })
    const server = createServer((_, res) => res.end())
    server.on('upgrade', (req, socket, head) => void handleUpgrade(warden, wss, req, socket, head))
    const port = await listen(server)
    return { port, target: { connections: count, storedSessions, broadcast, close: closeAll } }
  }
  if (config.kind === 'fastify') {
    const { default: Fastify } = await import('fastify')
    const { wardenFastify } = await import('@ws-warden/fastify')
    const app = Fastify({ logger: false })
    await app.register(wardenFastify, { warden })
    app.get('/ws', { websocket: true, warden: true }, handler)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as AddressInfo).port
    return {
      port,
      target: {
        connections: count,
        storedSessions,
        broadcast,
        close: () => app.close().then(() => stores?.close()),
      },
    }
  }
  if (config.kind === 'express') {
    type App = Parameters<typeof ExpressAdapter.wardenExpress>[0]
    const express = require('express') as () => App
    const app = express()
    const server = createServer(app)
    const { wardenExpress } = await import('@ws-warden/express')
    const governed = wardenExpress(app, { warden, server })
    governed.app.ws('/ws', handler)
    const port = await listen(server)
    return { port, target: { connections: count, storedSessions, broadcast, close: closeAll } }
  }
  if (config.kind === 'koa') {
    type App = Parameters<typeof KoaAdapter.wardenKoa>[0]
    const Koa = require('koa') as new () => App
    const app = new Koa()
    const server = createServer(app.callback())
    const { wardenKoa } = await import('@ws-warden/koa')
    const { ws } = wardenKoa(app, { warden, server })
    app.use(ws(handler))
    const port = await listen(server)
    return { port, target: { connections: count, storedSessions, broadcast, close: closeAll } }
  }
  throw new Error(`not a warden kind: ${config.kind}`)
}

/** The stores with a NATS broker (subjects under the run's name) in place of their own. */
async function withNatsBroker(stores: OpenedStores): Promise<OpenedStores> {
  const { NatsBroker } = await import('@ws-warden/nats')
  const broker = new NatsBroker({ servers: NATS_URL, prefix: config.name })
  await broker.ready()
  return {
    ...stores,
    broker,
    close: async () => void (await Promise.all([broker.close(), stores.close()])),
  }
}

async function wsTarget(): Promise<{ target: Target; port: number }> {
  const server = createServer((_, res) => res.end())
  const wss = new WebSocketServer({ server, perMessageDeflate: false })
  const clients = new Set<WebSocket>()
  const channels = new Map<string, Set<WebSocket>>()
  const joinChannel = (socket: WebSocket, channel: string): void => {
    let members = channels.get(channel)
    if (!members) channels.set(channel, (members = new Set()))
    members.add(socket)
  }
  wss.on('connection', (socket) => {
    clients.add(socket)
    if (config.autoJoin !== undefined) joinChannel(socket, config.autoJoin)
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as ChatMessage
      if (message.type === 'join' && typeof message.channel === 'string') {
        joinChannel(socket, message.channel)
        socket.send('{"type":"joined"}')
      } else if (message.type === 'chat' && typeof message.channel === 'string') {
        const frame = Buffer.from(JSON.stringify({ type: 'chat', t: message.t }))
        for (const member of channels.get(message.channel) ?? [])
          member.send(frame, { binary: false })
      }
    })
    socket.on('close', () => {
      clients.delete(socket)
      for (const members of channels.values()) members.delete(socket)
    })
  })
  const port = await listen(server)
  return {
    port,
    target: {
      connections: () => clients.size,
      broadcast: (args) => {
        // The plain loop of the anchors: one Buffer, sent to every socket.
        const frame = Buffer.from(paddedJson(args.bytes))
        const targets =
          args.target === 'all' ? clients : (channels.get(args.channel) ?? new Set<WebSocket>())
        for (let i = 0; i < args.count; i++) {
          for (const socket of targets) socket.send(frame, { binary: false })
        }
      },
      close: async () => {
        for (const socket of clients) socket.terminate()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      },
    },
  }
}

/**
 * The framework with its usual WebSocket support and a handler that keeps the socket open (as
 * the governed route's does): `@fastify/websocket`; Express and Koa serve HTTP with a `ws`
 * server on the HTTP server's upgrade (what their adapters build on). Sockets are tracked in a
 * set, like the raw ws server does; no heartbeat, no auth.
 */
async function bareFrameworkTarget(): Promise<{ target: Target; port: number }> {
  const sockets = new Set<WebSocket>()
  const track = (socket: WebSocket): void => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  }
  const target = (close: () => Promise<void>): Target => ({
    connections: () => sockets.size,
    broadcast: () => {
      throw new Error(`${config.kind}: broadcast is not measured`)
    },
    close,
  })
  if (config.kind === 'fastify-bare') {
    const { default: Fastify } = await import('fastify')
    const { default: websocket } = await import('@fastify/websocket')
    const app = Fastify({ logger: false })
    await app.register(websocket, { options: { perMessageDeflate: false } })
    app.get('/ws', { websocket: true }, (socket) => track(socket))
    await app.listen({ port: 0, host: '127.0.0.1' })
    return { port: (app.server.address() as AddressInfo).port, target: target(() => app.close()) }
  }
  const http =
    config.kind === 'express-bare'
      ? createServer((require('express') as () => Parameters<typeof createServer>[0])())
      : createServer(
          new (
            require('koa') as new () => { callback(): Parameters<typeof createServer>[0] }
          )().callback(),
        )
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
  http.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => track(ws))
  })
  const port = await listen(http)
  return {
    port,
    target: target(async () => {
      for (const socket of sockets) socket.terminate()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    }),
  }
}

async function socketIoTarget(): Promise<{ target: Target; port: number }> {
  const { Server: SocketIoServer } = await import('socket.io')
  const server = createServer()
  // Socket.IO's heartbeat cannot be turned off: 0 keeps its defaults (25 s / 20 s).
  const ping =
    config.heartbeatMs === undefined || config.heartbeatMs === 0 ? undefined : config.heartbeatMs
  const io = new SocketIoServer(server, {
    transports: ['websocket'],
    serveClient: false,
    ...(ping !== undefined && { pingInterval: ping, pingTimeout: 20_000 }),
  })
  let redis: Redis[] = []
  if (config.redisFanout) {
    const { Redis } = await import('ioredis')
    const { createAdapter } = await import('@socket.io/redis-adapter')
    const pub = new Redis(REDIS_URL)
    const sub = pub.duplicate()
    redis = [pub, sub]
    io.adapter(createAdapter(pub, sub, { key: config.name }))
  }
  io.on('connection', (socket) => {
    if (config.autoJoin !== undefined) void socket.join(config.autoJoin)
  })
  const port = await listen(server)
  return {
    port,
    target: {
      connections: () => io.engine.clientsCount,
      broadcast: (args) => {
        // `42["m","<pad>"]` is 9 bytes plus the pad.
        const pad = 'x'.repeat(Math.max(0, args.bytes - 9))
        for (let i = 0; i < args.count; i++) {
          if (args.target === 'all') io.emit('m', pad)
          else io.to(args.channel).emit('m', pad)
        }
      },
      close: async () => {
        await io.close()
        for (const client of redis) client.disconnect()
      },
    },
  }
}

function listen(server: ReturnType<typeof createServer>): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
}

function stats(gc: boolean): ServerStats {
  const collect = (globalThis as { gc?: () => void }).gc
  if (gc && collect) {
    collect()
    collect()
  }
  const memory = process.memoryUsage()
  const cpu = process.cpuUsage()
  return {
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    cpuMicros: cpu.user + cpu.system,
    connections: target.connections(),
    at: wallNow(),
  }
}

const started =
  config.kind === 'ws'
    ? await wsTarget()
    : config.kind === 'socketio'
      ? await socketIoTarget()
      : isBareFramework(config.kind)
        ? await bareFrameworkTarget()
        : await wardenTarget()
const target = started.target

/** The V8 CPU profiler, started and stopped by the runner around what it measures. */
let profiler: Session | undefined
async function profile(args: { action: 'start' | 'stop' }): Promise<unknown> {
  if (args.action === 'start') {
    profiler = new Session()
    profiler.connect()
    await profiler.post('Profiler.enable')
    await profiler.post('Profiler.setSamplingInterval', {
      interval: Number(process.env.WSW_PROFILE_INTERVAL_US ?? 100),
    })
    await profiler.post('Profiler.start')
    return null
  }
  const session = profiler as Session
  const { profile: result } = await session.post('Profiler.stop')
  session.disconnect()
  profiler = undefined
  return result
}

serve(
  {
    stats: (args: { gc?: boolean }) => stats(args.gc === true),
    storedSessions: () => target.storedSessions?.() ?? 0,
    profile,
    broadcast: (args: BroadcastArgs) => {
      const t0 = wallNow()
      target.broadcast(args)
      return { t0, t1: wallNow(), fanoutErrors }
    },
  },
  { port: started.port, pid: process.pid } satisfies ServerReady,
  // No graceful close on exit: the process ends, the runner cleans the store up.
)
