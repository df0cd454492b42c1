/** Benchmark 4: two server processes sharing Redis, clients split across them. */
import type { BenchContext } from '../harness.js'
import { ClientGroup, startServer, untilConnections } from '../harness.js'
import { cleanup, uniqueName } from '../services.js'
import { ratios, sleep, summarize } from '../stats.js'
import type { BenchResult, Cell, Table } from '../table.js'
import type { ServerKind } from '../workers/server.js'
import { deliver } from './broadcast.js'

const SERVERS: readonly { kind: ServerKind; label: string }[] = [
  { kind: 'warden', label: 'ws-warden, Redis stores + Redis broker' },
  { kind: 'socketio', label: 'Socket.IO 4 + @socket.io/redis-adapter' },
]

export async function acrossBench(context: BenchContext): Promise<BenchResult> {
  const { scale, log } = context
  if (!context.stores.includes('redis')) {
    return {
      tables: [
        {
          id: 'across',
          title: 'Across instances (two processes sharing Redis)',
          columns: [
            { title: 'server', unit: 'text' },
            { title: 'deliveries/s', unit: 'int' },
          ],
          rows: SERVERS.map(({ label }): Cell[] => [label, null]),
          notes: ['Not measured: Redis is not answering.'],
        },
      ],
      targets: [],
    }
  }
  const { clients: population, messages } = scale.across
  const perSecond = new Map<ServerKind, number[]>()
  const times = new Map<ServerKind, number[]>()
  const publishErrors: number[] = []
  const clients = await ClientGroup.start(2)
  try {
    for (let run = 0; run < scale.runs; run++) {
      for (const { kind } of SERVERS) {
        const name = uniqueName('x')
        const options = { heartbeatMs: 0, redisFanout: true, name }
        const servers = await Promise.all([
          startServer(kind, 'redis', options),
          startServer(kind, 'redis', options),
        ])
        try {
          const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]]
          const opened = await clients.connect([a.url, b.url], a.config, population, 100)
          if (opened.opened !== population)
            throw new Error(
              `across: ${kind} opened ${opened.opened}/${population}: ${opened.firstError}`,
            )
          await untilConnections(a, Math.ceil(population / 2))
          await untilConnections(b, Math.floor(population / 2))
          await sleep(300)
          await deliver(
            a,
            clients,
            population,
            'all',
            Math.min(10, messages),
            scale.broadcast.bytes,
          ) // warm-up
          const result = await deliver(
            a,
            clients,
            population,
            'all',
            messages,
            scale.broadcast.bytes,
          )
          if (result.fanoutErrors > 0) publishErrors.push(result.fanoutErrors)
          perSecond.set(kind, [...(perSecond.get(kind) ?? []), result.perSecond])
          times.set(kind, [...(times.get(kind) ?? []), result.ms])
          await clients.closeAll()
        } finally {
          await Promise.all(servers.map((server) => server.stop()))
          await cleanup('redis', name).catch(() => undefined)
        }
      }
      log(`across: run ${run + 1}/${scale.runs} done`)
    }
  } finally {
    await clients.stop()
  }
  const io = perSecond.get('socketio') ?? []
  const table: Table = {
    id: 'across',
    title: `Across instances: ${population.toLocaleString('en-US')} clients split over two server processes sharing Redis, ${messages} messages to everyone`,
    columns: [
      { title: 'server', unit: 'text' },
      { title: 'deliveries/s', unit: 'int' },
      { title: 'ms until every client has every message', unit: 'ms' },
      { title: 'vs Socket.IO + Redis adapter', unit: 'ratio' },
    ],
    rows: SERVERS.map(({ kind, label }): Cell[] => {
      const values = perSecond.get(kind) ?? []
      return [
        label,
        summarize(values),
        summarize(times.get(kind) ?? []),
        summarize(ratios(values, io)),
      ]
    }),
    notes: [
      "Instance A broadcasts in one burst; its clients get the frames directly, instance B's through Redis pub/sub (ws-warden: one PUBLISH per message on the `all` topic; Socket.IO: the adapter's PUBLISH). Half of the clients are connected to each instance, from two client processes.",
      publishErrors.length > 0
        ? `ws-warden fan-outs rejected with store_unavailable (broker publish slower than \`storeTimeoutMs\`, 2 s) in ${publishErrors.length} run(s): ${publishErrors.join(', ')}.`
        : 'No ws-warden broker publish was rejected in the measured runs.',
    ],
  }
  return { tables: [table], targets: [] }
}
