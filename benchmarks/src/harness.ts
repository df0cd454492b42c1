import { randomBytes } from 'node:crypto'
import { Worker } from './ipc.js'
import { isBareFramework } from './kinds.js'
import type { Scale } from './scale.js'
import type { StoreKind } from './services.js'
import { cleanup, uniqueName } from './services.js'
import { sleep } from './stats.js'
import type { ConnectArgs, ConnectResult, WaitResult } from './workers/clients.js'
import type {
  BroadcastArgs,
  ServerConfig,
  ServerKind,
  ServerReady,
  ServerStats,
} from './workers/server.js'

/** What every benchmark gets from the runner. */
export interface BenchContext {
  readonly scale: Scale
  /** Stores whose service answered (memory always). */
  readonly stores: readonly StoreKind[]
  /** Progress lines (stderr). */
  readonly log: (line: string) => void
}

/** The secret servers verify and clients sign connect tokens with. */
export const SECRET = randomBytes(32).toString('hex')

export interface RunningServer {
  readonly worker: Worker
  readonly port: number
  readonly config: ServerConfig
  /** The URL clients connect to. */
  readonly url: string
  stats(gc?: boolean): Promise<ServerStats>
  /** Records in the warden's session store (0 for servers without one). */
  storedSessions(): Promise<number>
  /** Starts the server's CPU profiler; `stop` returns the profile (a V8 `.cpuprofile`). */
  profile(action: 'start' | 'stop'): Promise<unknown>
  broadcast(args: BroadcastArgs): Promise<{ t0: number; t1: number; fanoutErrors?: number }>
  /** Stops the process and removes what the run left in its store. */
  stop(): Promise<void>
}

export function isWarden(kind: ServerKind): boolean {
  return kind !== 'ws' && kind !== 'socketio' && !isBareFramework(kind)
}

/** Starts a server process; `name` (store prefix or schema) is made unique unless given. */
export async function startServer(
  kind: ServerKind,
  store: StoreKind,
  extra: Partial<
    Pick<
      ServerConfig,
      | 'heartbeatMs'
      | 'redisFanout'
      | 'natsFanout'
      | 'autoJoin'
      | 'name'
      | 'redisCluster'
      | 'removeOneByOne'
    >
  > = {},
  nodeFlags: readonly string[] = [],
): Promise<RunningServer> {
  const config: ServerConfig = {
    kind,
    store,
    secret: SECRET,
    name: extra.name ?? uniqueName(store.slice(0, 2)),
    ...extra,
  }
  const { worker, ready } = await Worker.start<ServerReady>(
    'server',
    `server ${kind}/${store}`,
    config,
    undefined,
    nodeFlags,
  )
  const base = `${kind === 'socketio' ? 'http' : 'ws'}://127.0.0.1:${ready.port}`
  return {
    worker,
    port: ready.port,
    config,
    url: kind === 'socketio' ? base : `${base}/ws`,
    stats: (gc = false) => worker.request<ServerStats>('stats', { gc }),
    storedSessions: () => worker.request<number>('storedSessions', {}),
    profile: (action) => worker.request('profile', { action }),
    broadcast: (args) => worker.request('broadcast', args),
    stop: async () => {
      await worker.stop(10_000)
      if (extra.name === undefined) await cleanup(store, config.name).catch(() => undefined)
    },
  }
}

/** A set of client processes that a client population is split over. */
export class ClientGroup {
  private constructor(readonly workers: Worker[]) {}

  static async start(processes: number): Promise<ClientGroup> {
    const started = await Promise.all(
      Array.from({ length: processes }, (_, i) =>
        Worker.start('clients', `clients ${i}`, { name: `clients-${i}` }),
      ),
    )
    return new ClientGroup(started.map(({ worker }) => worker))
  }

  /**
   * Opens `count` connections split evenly over the processes (or to `urls[i]` for process i),
   * all at once; resolves with the slowest process's time and the totals.
   */
  async connect(
    urls: string | readonly string[],
    server: { kind: ServerKind },
    count: number,
    inflight: number,
    timeoutMs = 120_000,
  ): Promise<ConnectResult> {
    const n = this.workers.length
    const results = await Promise.all(
      this.workers.map((worker, i) => {
        const args: ConnectArgs = {
          url: typeof urls === 'string' ? urls : (urls[i % urls.length] as string),
          protocol: server.kind === 'socketio' ? 'socketio' : 'ws',
          count: Math.floor(count / n) + (i < count % n ? 1 : 0),
          inflight: Math.max(1, Math.round(inflight / n)),
          ...(isWarden(server.kind) && { secret: SECRET }),
          userPrefix: `u${i}-`,
          timeoutMs,
        }
        return worker.request<ConnectResult>('connect', args, timeoutMs + 60_000)
      }),
    )
    const firstError = results.find((result) => result.firstError !== undefined)?.firstError
    return {
      ms: Math.max(...results.map((result) => result.ms)),
      opened: results.reduce((sum, result) => sum + result.opened, 0),
      failed: results.reduce((sum, result) => sum + result.failed, 0),
      ...(firstError !== undefined && { firstError }),
    }
  }

  /** Arms every process to expect `count` messages per client. */
  async arm(count: number): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.request('arm', { count })))
  }

  /** Waits until every client has its messages; the latest completion time, or NaN. */
  async wait(timeoutMs: number): Promise<{ doneAt: number; received: number }> {
    const results = await Promise.all(
      this.workers.map((worker) =>
        worker.request<WaitResult>('wait', { timeoutMs }, timeoutMs + 10_000),
      ),
    )
    return {
      doneAt: Math.max(...results.map((result) => result.doneAt)),
      received: results.reduce((sum, result) => sum + result.received, 0),
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.request('close')))
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()))
  }
}

/** Polls `read` (every `everyMs`) until it answers `count` or `timeoutMs` passes; what it saw last. */
export async function until(
  read: () => Promise<number>,
  count: number,
  timeoutMs: number,
  everyMs = 50,
): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let seen = 0
  while (Date.now() < deadline) {
    seen = await read()
    if (seen === count) return seen
    await sleep(everyMs)
  }
  return seen
}

/** Waits until the server counts `count` connections (or `timeoutMs` passes). */
export function untilConnections(
  server: RunningServer,
  count: number,
  timeoutMs = 10_000,
): Promise<number> {
  return until(async () => (await server.stats()).connections, count, timeoutMs)
}

/** Runs `body` with a server and stops the server whatever happens. */
export async function withServer<T>(
  start: () => Promise<RunningServer>,
  body: (server: RunningServer) => Promise<T>,
): Promise<T> {
  const server = await start()
  try {
    return await body(server)
  } finally {
    await server.stop()
  }
}
