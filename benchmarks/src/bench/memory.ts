/** Benchmark 5: server memory per idle connection, and the CPU its heartbeats cost. */
import type { BenchContext } from '../harness.js'
import { ClientGroup, startServer, untilConnections, withServer } from '../harness.js'
import { push, sleep, summarize } from '../stats.js'
import type { BenchResult, Cell, Table, TargetLine } from '../table.js'
import type { ServerKind } from '../workers/server.js'

const SERVERS: readonly {
  /** The row's key: its kind, unless one kind has several rows. */
  id?: string
  kind: ServerKind
  label: string
  /** Node flags of the server process. */
  nodeFlags?: readonly string[]
  cpu: 'baseline' | 'heartbeat' | 'none'
  /** The server this row is compared to: its framework without ws-warden. */
  base?: ServerKind
}[] = [
  { kind: 'ws', label: 'raw ws (no heartbeat)', cpu: 'baseline' },
  { kind: 'warden', label: 'ws-warden, core (memory store)', cpu: 'heartbeat', base: 'ws' },
  { kind: 'fastify-bare', label: 'bare @fastify/websocket (no heartbeat)', cpu: 'none' },
  {
    kind: 'fastify',
    label: 'ws-warden, Fastify plugin (memory store)',
    cpu: 'none',
    base: 'fastify-bare',
  },
  { kind: 'express-bare', label: 'bare Express + ws (no heartbeat)', cpu: 'none' },
  {
    kind: 'express',
    label: 'ws-warden, Express adapter (memory store)',
    cpu: 'none',
    base: 'express-bare',
  },
  {
    // The adapter's RSS beyond its V8 heap: is it held, or left in the GC threads' malloc arenas?
    id: 'express-single-gc',
    kind: 'express',
    label: 'ws-warden, Express adapter, `--single-threaded-gc`',
    nodeFlags: ['--single-threaded-gc'],
    cpu: 'none',
    base: 'express-bare',
  },
  { kind: 'koa-bare', label: 'bare Koa + ws (no heartbeat)', cpu: 'none' },
  { kind: 'koa', label: 'ws-warden, Koa adapter (memory store)', cpu: 'none', base: 'koa-bare' },
  { kind: 'socketio', label: 'Socket.IO 4', cpu: 'heartbeat' },
]
const DEFAULT_INTERVAL_MS = 25_000
const KIB = 1024

export async function memoryBench(context: BenchContext): Promise<BenchResult> {
  const { scale, log } = context
  const { baseConnections, settleMs, connections, inflight, heartbeatMs, cpuWindowMs } =
    scale.memory
  /** Idle time before each reading: at least the settle time, and the heartbeat window's. */
  const settled = Math.max(settleMs, 1_000 + cpuWindowMs)
  /** Open during the heartbeat window: the base and the measured connections. */
  const total = baseConnections + connections
  const rss = new Map<string, number[]>()
  const heap = new Map<string, number[]>()
  const committed = new Map<string, number[]>()
  const outside = new Map<string, number[]>()
  const cpu = new Map<string, number[]>()
  const dropped: string[] = []
  const clients = await ClientGroup.start(scale.clientProcesses)
  try {
    for (let run = 0; run < scale.runs; run++) {
      for (const { id, kind, cpu: cpuMode, nodeFlags } of SERVERS) {
        const key = id ?? kind
        await withServer(
          () => startServer(kind, 'memory', { heartbeatMs }, nodeFlags),
          async (server) => {
            // Warm-up: a few connections through every code path, so lazy set-up is not counted.
            await clients.connect(server.url, server.config, 20, 5)
            await clients.closeAll()
            await untilConnections(server, 0)
            await sleep(300)
            /** Opens `count` more connections and waits until the server counts `expected`. */
            const openMore = async (count: number, expected: number): Promise<void> => {
              const result = await clients.connect(
                server.url,
                server.config,
                count,
                inflight,
                300_000,
              )
              if (result.opened !== count)
                throw new Error(
                  `memory: ${key} opened ${result.opened}/${count}: ${result.firstError}`,
                )
              await untilConnections(server, expected)
            }
            await openMore(baseConnections, baseConnections)
            await sleep(settled)
            const before = await server.stats(true)
            await openMore(connections, total)
            // The heartbeat's CPU window is idle time too: the memory is read after it.
            let idle = 0
            if (cpuMode !== 'none') {
              const window = cpuMode === 'baseline' ? Math.min(5_000, cpuWindowMs) : cpuWindowMs
              await sleep(1_000)
              const start = await server.stats()
              await sleep(window)
              const end = await server.stats()
              if (end.connections !== total) dropped.push(`${key}: ${total - end.connections}`)
              const percent = ((end.cpuMicros - start.cpuMicros) / 1000 / (end.at - start.at)) * 100
              push(cpu, key, percent)
              idle = 1_000 + window
            }
            await sleep(Math.max(0, settled - idle))
            const after = await server.stats(true)
            const perConnection = (bytes: number) => bytes / connections / KIB
            const rssPer = perConnection(after.rss - before.rss)
            const heapPer = perConnection(
              after.heapUsed + after.external - before.heapUsed - before.external,
            )
            push(rss, key, rssPer)
            push(heap, key, heapPer)
            push(committed, key, perConnection(after.heapTotal - before.heapTotal))
            push(
              outside,
              key,
              perConnection(after.rss - after.heapTotal - (before.rss - before.heapTotal)),
            )
            log(
              `memory: ${key} ${rssPer.toFixed(2)} KiB RSS, ${heapPer.toFixed(2)} KiB heap + external per connection`,
            )
            await clients.closeAll()
          },
        )
      }
      log(`memory: run ${run + 1}/${scale.runs} done`)
    }
  } finally {
    await clients.stop()
  }

  const wsRss = summarize(rss.get('ws') ?? []).median
  const ioRss = summarize(rss.get('socketio') ?? []).median
  const memoryTable: Table = {
    id: 'memory',
    title: `Memory per idle connection at ${connections.toLocaleString('en-US')} connections (KiB)`,
    columns: [
      { title: 'server', unit: 'text' },
      { title: 'RSS per connection', unit: 'kib' },
      { title: 'heap + external per connection', unit: 'kib' },
      { title: 'V8 heap committed per connection', unit: 'kib' },
      { title: 'RSS outside the V8 heap per connection', unit: 'kib' },
      { title: 'RSS over raw ws', unit: 'kib' },
      { title: 'RSS over its framework without ws-warden', unit: 'kib' },
    ],
    rows: SERVERS.map(({ id, kind, label, base }): Cell[] => {
      const key = id ?? kind
      const values = rss.get(key) ?? []
      const baseRss = base === undefined ? Number.NaN : summarize(rss.get(base) ?? []).median
      return [
        label,
        summarize(values),
        summarize(heap.get(key) ?? []),
        summarize(committed.get(key) ?? []),
        summarize(outside.get(key) ?? []),
        summarize(values.map((value) => value - wsRss)),
        base === undefined ? '' : summarize(values.map((value) => value - baseRss)),
      ]
    }),
    notes: [
      `Server process only (clients are other processes): (after − before) ÷ ${connections.toLocaleString('en-US')}, both read after two forced GCs (\`--expose-gc\`). Before: after a warm-up of 20 connections (opened and closed), then ${baseConnections.toLocaleString('en-US')} connections opened and kept open, ${settled / 1000} s after the last of them; after: ${settled / 1000} s after ${connections.toLocaleString('en-US')} more opened (rows with a heartbeat CPU window spend those seconds in it). So the figure is what each further connection costs, not what a process pays once as it grows (its young generation, allocator arenas, compiled code), which a reading from an almost empty process charges to the first connections.` +
        '  ws-warden connections went through admission (session record in the memory store, unique user per connection).',
      'Bare rows: the framework with its usual WebSocket support and no ws-warden (`@fastify/websocket`; Express and Koa with a `ws` server on the upgrade, which is what their adapters build on), a handler that keeps each socket in a set, no heartbeat; each adapter row is compared to its own framework. Raw ws and the bare rows do not ping; every ws-warden row (core and adapters) runs its heartbeat.',
      `Heartbeats run at ${heartbeatMs} ms during this measurement (warden: one timer; Socket.IO: pingInterval).`,
      "Where RSS goes: V8 heap committed is `heapTotal` (used and free pages); RSS outside the V8 heap is the rest (sockets, buffers, the allocator's arenas). A process whose base phase left free heap pages fits further connections in them, so its committed heap (and RSS) grows by less than its heap used: a raw ws run that does so reads low, and every row's 'over raw ws' with it. The `--single-threaded-gc` row is the Express adapter with V8's parallel GC threads off: the RSS outside the heap that it loses was the malloc arenas of those threads, left holding the garbage of the requests Express routed, not memory a connection keeps.",
    ],
  }
  const baseline = summarize(cpu.get('ws') ?? []).median
  const normalise = (percent: number): number =>
    Math.max(0, percent - (Number.isFinite(baseline) ? baseline : 0)) *
    (heartbeatMs / DEFAULT_INTERVAL_MS) *
    (10_000 / total)
  const cpuRows = SERVERS.filter(({ cpu: mode }) => mode !== 'none').map(
    ({ id, kind, label, cpu: mode }): Cell[] => {
      const values = cpu.get(id ?? kind) ?? []
      return [
        label,
        summarize(values),
        mode === 'heartbeat' ? summarize(values.map(normalise)) : '(idle baseline)',
      ]
    },
  )
  const cpuTable: Table = {
    id: 'heartbeat-cpu',
    title: `Heartbeat CPU at ${total.toLocaleString('en-US')} idle connections (% of one core)`,
    columns: [
      { title: 'server', unit: 'text' },
      { title: `measured, ${heartbeatMs} ms interval`, unit: 'pct' },
      { title: 'per 10k connections at the default 25 s interval', unit: 'pct' },
    ],
    rows: cpuRows,
    notes: [
      `Method: server process CPU time (user + system, \`process.cpuUsage\`) over a ${Math.round(cpuWindowMs / 1000)} s window (raw ws: ${Math.round(Math.min(5_000, cpuWindowMs) / 1000)} s) while every connection is idle, with the heartbeat interval shortened to ${heartbeatMs} ms so each window holds ${Math.round(cpuWindowMs / heartbeatMs)} heartbeat cycles. Heartbeat cost scales with cycles, so: (measured − raw ws idle baseline) × ${heartbeatMs} / 25,000 × 10,000 / ${total.toLocaleString('en-US')}. Clients answer pings in their own processes.`,
      'ws-warden: one timer pings every connection, then checks for missing pongs, and batches one `sessions.touch` per cycle; Socket.IO: a timer per socket (engine.io pingInterval).',
      dropped.length > 0
        ? `Connections lost during a window (late pongs under load): ${dropped.join(', ')}.`
        : 'No connection was lost during the windows.',
    ],
  }
  const warden = summarize(rss.get('warden') ?? []).median
  const fastify = summarize(rss.get('fastify') ?? []).median
  const fastifyBare = summarize(rss.get('fastify-bare') ?? []).median
  const hb = summarize((cpu.get('warden') ?? []).map(normalise)).median
  const targets: TargetLine[] = [
    {
      target: 'Idle memory per connection within raw ws + 1.5 KiB (core)',
      measured: `RSS/conn: ws-warden ${warden.toFixed(2)} KiB vs raw ws ${wsRss.toFixed(2)} KiB (core +${(warden - wsRss).toFixed(2)} KiB)`,
      met: Number.isFinite(warden) && Number.isFinite(wsRss) ? warden <= wsRss + 1.5 : undefined,
    },
    {
      target: 'Fastify plugin idle memory within bare @fastify/websocket + 2 KiB',
      measured: `RSS/conn: Fastify plugin ${fastify.toFixed(2)} KiB vs bare ${fastifyBare.toFixed(2)} KiB (+${(fastify - fastifyBare).toFixed(2)} KiB)`,
      met:
        Number.isFinite(fastify) && Number.isFinite(fastifyBare)
          ? fastify <= fastifyBare + 2
          : undefined,
    },
    {
      target: 'Idle memory per connection ≤ half of Socket.IO',
      measured: `ws-warden ${warden.toFixed(2)} KiB vs Socket.IO ${ioRss.toFixed(2)} KiB (${(warden / ioRss).toFixed(2)}x)`,
      met: Number.isFinite(warden) && Number.isFinite(ioRss) ? warden <= ioRss / 2 : undefined,
    },
    {
      target: 'Heartbeat CPU for 10k idle connections < 2% of one core',
      measured: `${hb.toPrecision(2)}% of one core (normalised to 25 s)`,
      met: Number.isFinite(hb) ? hb < 2 : undefined,
    },
  ]
  return { tables: [memoryTable, cpuTable], targets }
}
