/** Benchmark 4: two server processes sharing Redis, clients split across them. */
import { NatsBroker } from '@ws-warden/nats'
import type { BenchContext } from '../harness.js'
import { ClientGroup, startServer, untilConnections } from '../harness.js'
import { cleanup, NATS_URL, uniqueName } from '../services.js'
import { ratios, sleep, summarize } from '../stats.js'
import type { BenchResult, Cell, Table } from '../table.js'
import type { ServerKind } from '../workers/server.js'
import { deliver } from './broadcast.js'

type Row = 'warden' | 'warden-nats' | 'socketio'
const SERVERS: readonly { id: Row; kind: ServerKind; label: string }[] = [
  { id: 'warden', kind: 'warden', label: 'ws-warden, Redis stores + Redis broker' },
  { id: 'warden-nats', kind: 'warden', label: 'ws-warden, Redis stores + NATS broker' },
  { id: 'socketio', kind: 'socketio', label: 'Socket.IO 4 + @socket.io/redis-adapter' },
]

/** Whether NATS answers (the NATS row is measured only then). */
async function natsAnswers(): Promise<boolean> {
  const broker = new NatsBroker({ servers: NATS_URL })
  try {
    await broker.ready()
    return true
  } catch {
    return false
  } finally {
    await broker.close()
  }
}

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
  const perSecond = new Map<Row, number[]>()
  const times = new Map<Row, number[]>()
  const servers = (await natsAnswers()) ? SERVERS : SERVERS.filter(({ id }) => id !== 'warden-nats')
  const publishErrors: number[] = []
  const clients = await ClientGroup.start(2)
  try {
    for (let run = 0; run < scale.runs; run++) {
      for (const { id, kind } of servers) {
        const name = uniqueName('x')
        const nats = id === 'warden-nats'
        const options = { heartbeatMs: 0, redisFanout: !nats, natsFanout: nats, name }
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
          perSecond.set(id, [...(perSecond.get(id) ?? []), result.perSecond])
          times.set(id, [...(times.get(id) ?? []), result.ms])
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
      { title: 'vs ws-warden + Redis broker', unit: 'ratio' },
    ],
    rows: SERVERS.map(({ id, label }): Cell[] => {
      const values = perSecond.get(id) ?? []
      return [
        label,
        summarize(values),
        summarize(times.get(id) ?? []),
        summarize(ratios(values, io)),
        summarize(ratios(values, perSecond.get('warden') ?? [])),
      ]
    }),
    notes: [
      "Instance A broadcasts in one burst; its clients get the frames directly, instance B's through Redis pub/sub (ws-warden: one PUBLISH per message on the `all` topic; Socket.IO: the adapter's PUBLISH). Half of the clients are connected to each instance, from two client processes.",
      `The NATS row keeps the Redis stores and fans out through \`@ws-warden/nats\` (one core NATS publish per message, the flushes of one tick shared) on ${NATS_URL}${servers.length < SERVERS.length ? ': not measured, NATS is not answering' : ''}.`,
      publishErrors.length > 0
        ? `ws-warden fan-outs rejected with store_unavailable (broker publish slower than \`storeTimeoutMs\`, 2 s) in ${publishErrors.length} run(s): ${publishErrors.join(', ')}.`
        : 'No ws-warden broker publish was rejected in the measured runs.',
    ],
  }
  return { tables: [table], targets: [] }
}
