/** Benchmark 3: fan-out to everyone and to a channel, against a raw ws loop and Socket.IO 4. */
import type { BenchContext, RunningServer } from '../harness.js'
import { ClientGroup, startServer, untilConnections } from '../harness.js'
import { push, ratios, sleep, summarize } from '../stats.js'
import type { BenchResult, Cell, Table, TargetLine } from '../table.js'
import { median } from '../table.js'
import type { ServerKind } from '../workers/server.js'

const SERVERS: readonly { kind: ServerKind; label: string }[] = [
  { kind: 'ws', label: 'raw ws loop (one Buffer)' },
  { kind: 'warden', label: 'ws-warden (memory store)' },
  { kind: 'socketio', label: 'Socket.IO 4' },
]
const TARGETS = ['all', 'channel'] as const
const CHANNEL = 'bench'

export interface Delivery {
  readonly perSecond: number
  readonly ms: number
  /** Fan-outs (so far, on this server) whose broker publish was rejected. */
  readonly fanoutErrors: number
}

/** Arms the clients, broadcasts `messages` from `server`, waits for every client to have them. */
export async function deliver(
  server: RunningServer,
  clients: ClientGroup,
  population: number,
  target: 'all' | 'channel',
  messages: number,
  bytes: number,
): Promise<Delivery> {
  await clients.arm(messages)
  const { t0, fanoutErrors = 0 } = await server.broadcast({
    target,
    channel: CHANNEL,
    count: messages,
    bytes,
  })
  const { doneAt } = await clients.wait(60_000)
  const ms = doneAt - t0
  return { perSecond: ((population * messages) / ms) * 1000, ms, fanoutErrors }
}

export async function broadcastBench(context: BenchContext): Promise<BenchResult> {
  const { scale, log } = context
  const { messages, bytes } = scale.broadcast
  const perSecond = new Map<string, number[]>()
  const times = new Map<string, number[]>()
  const clients = await ClientGroup.start(scale.clientProcesses)
  const servers = await Promise.all(
    SERVERS.map(({ kind }) => startServer(kind, 'memory', { heartbeatMs: 0, autoJoin: CHANNEL })),
  )
  try {
    for (let run = 0; run < scale.runs; run++) {
      for (const population of scale.broadcast.clients) {
        for (const server of servers) {
          const kind = server.config.kind
          const opened = await clients.connect(server.url, server.config, population, 100)
          if (opened.opened !== population) {
            throw new Error(
              `broadcast: ${kind} opened ${opened.opened}/${population}: ${opened.firstError}`,
            )
          }
          await untilConnections(server, population)
          await sleep(200)
          await deliver(server, clients, population, 'all', Math.min(10, messages), bytes) // warm-up
          for (const target of TARGETS) {
            const result = await deliver(server, clients, population, target, messages, bytes)
            push(perSecond, `${population}:${target}:${kind}`, result.perSecond)
            push(times, `${population}:${target}:${kind}`, result.ms)
          }
          await clients.closeAll()
          await untilConnections(server, 0)
        }
        log(`broadcast: run ${run + 1}/${scale.runs}, ${population} clients done`)
      }
    }
  } finally {
    await Promise.all([clients.stop(), ...servers.map((server) => server.stop())])
  }

  const rows: Cell[][] = []
  const targets: TargetLine[] = []
  const vsWs: number[] = []
  const vsIo: number[] = []
  for (const population of scale.broadcast.clients) {
    for (const target of TARGETS) {
      const key = (kind: ServerKind): string => `${population}:${target}:${kind}`
      const raw = perSecond.get(key('ws')) ?? []
      const io = perSecond.get(key('socketio')) ?? []
      for (const { kind, label } of SERVERS) {
        const values = perSecond.get(key(kind)) ?? []
        const overWs = summarize(ratios(values, raw))
        const overIo = summarize(ratios(values, io))
        if (kind === 'warden') {
          vsWs.push(overWs.median)
          vsIo.push(overIo.median)
        }
        rows.push([
          population,
          target === 'all' ? 'everyone' : 'channel',
          label,
          summarize(values),
          summarize(times.get(key(kind)) ?? []),
          overWs,
          overIo,
        ])
      }
    }
  }
  const table: Table = {
    id: 'broadcast',
    title: `Broadcast fan-out: ${messages} messages of ${bytes} bytes, sent in one burst`,
    columns: [
      { title: 'clients', unit: 'int' },
      { title: 'to', unit: 'text' },
      { title: 'server', unit: 'text' },
      { title: 'deliveries/s', unit: 'int' },
      { title: 'ms until every client has every message', unit: 'ms' },
      { title: 'vs raw ws', unit: 'ratio' },
      { title: 'vs Socket.IO', unit: 'ratio' },
    ],
    rows,
    notes: [
      `Every client is in the channel, so both targets deliver clients × ${messages} messages. ws-warden: \`warden.broadcast\` / \`warden.toChannel\` (serialized once, \`sendFrame\` per connection with its back-pressure check). Raw ws: \`for (socket of set) socket.send(buffer)\`. Socket.IO: \`io.emit\` / \`io.to(room).emit\`, websocket transport only.`,
      `Time runs from the server's first send to the moment the last client (in ${scale.clientProcesses} client process(es)) has its last message (wall clocks of the same machine). Clients and server share the 2 cores, so the clients' receive cost is part of every figure. A warm-up broadcast precedes the measured ones.`,
    ],
  }
  const worst = (values: number[]): number => Math.min(...values.filter(Number.isFinite))
  targets.push(
    {
      target: 'Broadcast ≥ 0.9x the raw ws loop',
      measured: `ws-warden ÷ raw ws: ${rows
        .filter((row) => row[2] === SERVERS[1]?.label)
        .map((row) => `${row[0]} ${row[1]} ${median(row[5]).toFixed(2)}x`)
        .join(', ')}`,
      met: vsWs.length > 0 ? worst(vsWs) >= 0.9 : undefined,
    },
    {
      target: 'Broadcast ≥ 2x Socket.IO',
      measured: `ws-warden ÷ Socket.IO: ${rows
        .filter((row) => row[2] === SERVERS[1]?.label)
        .map((row) => `${row[0]} ${row[1]} ${median(row[6]).toFixed(2)}x`)
        .join(', ')}`,
      met: vsIo.length > 0 ? worst(vsIo) >= 2 : undefined,
    },
  )
  return { tables: [table], targets }
}
