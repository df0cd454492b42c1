/**
 * Benchmark 4: server processes sharing Redis, clients split across them: two instances on one
 * Redis (Redis broker, NATS broker, Socket.IO's Redis adapter), and three instances on one Redis
 * beside three on a three-master Redis Cluster of the benchmark's own (sharded pub/sub).
 */
import { NatsBroker } from '@ws-warden/nats'
import type { BenchContext } from '../harness.js'
import { ClientGroup, startServer, untilConnections } from '../harness.js'
import { clusterAvailable, startCluster, type BenchCluster } from '../redis-cluster.js'
import { cleanup, NATS_URL, REDIS_URL, uniqueName } from '../services.js'
import { push, ratios, sleep, summarize } from '../stats.js'
import type { BenchResult, Cell, Table } from '../table.js'
import type { ServerKind } from '../workers/server.js'
import { deliver } from './broadcast.js'

const SHAPES = ['fanout', 'broker'] as const
type Shape = (typeof SHAPES)[number]
type Row = 'warden' | 'warden-nats' | 'socketio' | 'warden-3' | 'warden-cluster'
interface Spec {
  readonly id: Row
  readonly kind: ServerKind
  readonly label: string
  readonly instances: 2 | 3
}
const SERVERS: readonly Spec[] = [
  { id: 'warden', kind: 'warden', label: 'ws-warden, Redis stores + Redis broker', instances: 2 },
  {
    id: 'warden-nats',
    kind: 'warden',
    label: 'ws-warden, Redis stores + NATS broker',
    instances: 2,
  },
  {
    id: 'socketio',
    kind: 'socketio',
    label: 'Socket.IO 4 + @socket.io/redis-adapter',
    instances: 2,
  },
  {
    id: 'warden-3',
    kind: 'warden',
    label: 'ws-warden, 3 instances, one Redis (stores + broker)',
    instances: 3,
  },
  {
    id: 'warden-cluster',
    kind: 'warden',
    label: 'ws-warden, 3 instances, 3-master Redis Cluster (stores + sharded pub/sub)',
    instances: 3,
  },
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
  const shapes = SHAPES.map((shape) => ({ shape, ...scale.across[shape] }))
  /** Deliveries per second and ms until done, by shape, then row. */
  const keyOf = (shape: Shape, row: Row): string => `${shape}:${row}`
  const perSecond = new Map<string, number[]>()
  const times = new Map<string, number[]>()
  const nats = await natsAnswers()
  const withCluster = clusterAvailable()
  const servers = SERVERS.filter(
    ({ id }) => (id !== 'warden-nats' || nats) && (id !== 'warden-cluster' || withCluster),
  )
  const publishErrors: number[] = []
  // One client process per instance, so that each instance gets its share of the population.
  const groups = new Map<number, ClientGroup>()
  let cluster: BenchCluster | undefined
  try {
    groups.set(2, await ClientGroup.start(2))
    groups.set(3, await ClientGroup.start(3))
    if (withCluster) cluster = await startCluster(3)
    for (let run = 0; run < scale.runs; run++) {
      for (const { id, kind, instances } of servers) {
        const clients = groups.get(instances) as ClientGroup
        const name = uniqueName('x')
        const viaNats = id === 'warden-nats'
        const onCluster = id === 'warden-cluster'
        const options = {
          heartbeatMs: 0,
          redisFanout: !viaNats,
          natsFanout: viaNats,
          name,
          ...(onCluster && cluster && { redisCluster: cluster.seeds }),
        }
        const started = await Promise.all(
          Array.from({ length: instances }, () => startServer(kind, 'redis', options)),
        )
        try {
          const [a] = started as [(typeof started)[0]]
          const urls = started.map((server) => server.url)
          // The same servers measure both shapes, each with its own population.
          for (const { shape, clients: population, messages } of shapes) {
            const opened = await clients.connect(urls, a.config, population, 100)
            if (opened.opened !== population)
              throw new Error(
                `across: ${id} opened ${opened.opened}/${population}: ${opened.firstError}`,
              )
            const share = (i: number): number =>
              Math.floor(population / instances) + (i < population % instances ? 1 : 0)
            await Promise.all(started.map((server, i) => untilConnections(server, share(i))))
            await sleep(300)
            const { bytes } = scale.broadcast
            await deliver(a, clients, population, 'all', Math.min(10, messages), bytes) // warm-up
            const result = await deliver(a, clients, population, 'all', messages, bytes)
            if (result.fanoutErrors > 0) publishErrors.push(result.fanoutErrors)
            push(perSecond, keyOf(shape, id), result.perSecond)
            push(times, keyOf(shape, id), result.ms)
            await clients.closeAll()
            await Promise.all(started.map((server) => untilConnections(server, 0)))
          }
        } finally {
          await Promise.all(started.map((server) => server.stop()))
          if (!onCluster) await cleanup('redis', name).catch(() => undefined)
        }
      }
      log(`across: run ${run + 1}/${scale.runs} done`)
    }
  } finally {
    await Promise.all([...groups.values()].map((group) => group.stop()))
    await cluster?.stop()
  }
  const of = (shape: Shape, row: Row): number[] => perSecond.get(keyOf(shape, row)) ?? []
  const tables = shapes.map(({ shape, clients: population, messages }): Table => {
    const io = of(shape, 'socketio')
    return {
      id: shape === 'fanout' ? 'across' : 'across-broker',
      title:
        shape === 'fanout'
          ? `Across instances: ${population.toLocaleString('en-US')} clients split over two or three server processes sharing Redis, ${messages.toLocaleString('en-US')} messages to everyone`
          : `Across instances, broker-bound: ${population} clients, ${messages.toLocaleString('en-US')} messages to everyone`,
      columns: [
        { title: 'server', unit: 'text' },
        { title: 'deliveries/s', unit: 'int' },
        { title: 'ms until every client has every message', unit: 'ms' },
        { title: 'vs Socket.IO + Redis adapter', unit: 'ratio' },
        { title: 'vs ws-warden + Redis broker', unit: 'ratio' },
        { title: 'per instance vs the same count on one Redis', unit: 'ratio' },
      ],
      rows: SERVERS.map(({ id, label, instances }): Cell[] => {
        const values = of(shape, id)
        const oneRedis = of(shape, instances === 3 ? 'warden-3' : 'warden')
        return [
          label,
          summarize(values),
          summarize(times.get(keyOf(shape, id)) ?? []),
          summarize(ratios(values, io)),
          summarize(ratios(values, of(shape, 'warden'))),
          summarize(ratios(values, oneRedis)),
        ]
      }),
      notes:
        shape === 'fanout'
          ? [
              "Instance A broadcasts in one burst; its clients get the frames directly, instance B's through Redis pub/sub (ws-warden: one PUBLISH per message on the `all` topic; Socket.IO: the adapter's PUBLISH). Half of the clients are connected to each instance, from two client processes.",
              `The NATS row keeps the Redis stores and fans out through \`@ws-warden/nats\` (one core NATS publish per message, the flushes of one tick shared) on ${NATS_URL}${servers.length < SERVERS.length ? ': not measured, NATS is not answering' : ''}.`,
              `The 3-instance rows: three server processes, one client process each, instance A broadcasting; one Redis (${REDIS_URL}) against a 3-master Redis Cluster the benchmark starts on 127.0.0.1 (redis-server children, no replicas, cluster-enabled; ${withCluster ? 'measured' : 'not measured: no redis-server/redis-cli'}), with the stores of \`createRedisStores({ cluster })\` (16 buckets) and the broker on SSUBSCRIBE/SPUBLISH. Same population and messages, so the ratio of the two rows is the ratio per instance.`,
              'With this many clients each instance spends most of the run in its own sends (every message to every local socket), which is the same code whatever carries it between instances: the rows of one instance count differ by what the engines add, a few per cent.',
              publishErrors.length > 0
                ? `ws-warden fan-outs rejected with store_unavailable (broker publish slower than \`storeTimeoutMs\`, 2 s) in ${publishErrors.length} run(s): ${publishErrors.join(', ')}.`
                : 'No ws-warden broker publish was rejected in the measured runs.',
            ]
          : [
              `The same servers and rows as above, measured right after them with ${population} clients (split as above) and ${messages.toLocaleString('en-US')} messages: each message reaches few sockets, so the time is what it takes to publish on one instance, carry and deliver on the others. This is the shape that compares the brokers.`,
            ],
    }
  })
  const median = (shape: Shape, row: Row, base: Row): number =>
    summarize(ratios(of(shape, row), of(shape, base))).median
  const onCluster = median('fanout', 'warden-cluster', 'warden-3')
  const natsVsRedis = median('broker', 'warden-nats', 'warden')
  const natsFanout = median('fanout', 'warden-nats', 'warden')
  const asRatio = (ratio: number): string =>
    Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'not measured'
  const line = (target: string, ratio: number, goal: number, measured = asRatio(ratio)) => ({
    target,
    measured,
    met: Number.isFinite(ratio) ? ratio >= goal : undefined,
  })
  return {
    tables,
    targets: [
      line(
        '3 instances on a 3-master Redis Cluster ≥ 0.9x of one Redis per instance',
        onCluster,
        0.9,
      ),
      line(
        'NATS across ≥ Redis across (broker-bound shape)',
        natsVsRedis,
        1,
        `broker-bound ${asRatio(natsVsRedis)}; fan-out shape ${asRatio(natsFanout)}`,
      ),
    ],
  }
}
