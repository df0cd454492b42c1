/**
 * Benchmark: a mass disconnect (a deploy, a network blip). Every connection of a warden closes
 * at once; how long until its shared store holds none of their records, and how much of the
 * machine that takes, with the removals batched into `removeMany` and one by one.
 */
import type { BenchContext, RunningServer } from '../harness.js'
import { ClientGroup, startServer, until, untilConnections } from '../harness.js'
import type { StoreKind } from '../services.js'
import { STORE_KINDS } from '../services.js'
import type { CpuTimes } from '../settle.js'
import { cpuTimes, settle } from '../settle.js'
import { push, summarize } from '../stats.js'
import type { BenchResult, Cell, Table } from '../table.js'

const SIDES = [
  { key: 'batched', label: 'batched (`removeMany`, as a warden sends it)', oneByOne: false },
  { key: 'single', label: 'one by one (`remove` per close)', oneByOne: true },
] as const

/** Polls the server's store (every 5 ms) until it holds `count` records; what it saw last. */
const untilStored = (server: RunningServer, count: number, timeoutMs: number) =>
  until(() => server.storedSessions(), count, timeoutMs, 5)

/** Busy CPU ticks (all cores) between two readings, in ms of one core. */
function busyMs(before: CpuTimes | undefined, after: CpuTimes | undefined): number | undefined {
  if (before === undefined || after === undefined) return undefined
  const ticks = after.total - before.total - (after.idle - before.idle)
  // /proc/stat counts in USER_HZ, 100 per second on Linux.
  return ticks * 10
}

export async function closesBench(context: BenchContext): Promise<BenchResult> {
  const { scale, log } = context
  const { connections, inflight } = scale.admission
  const stores = STORE_KINDS.filter((kind) => kind !== 'memory' && context.stores.includes(kind))
  /** Records removed per second, from the first close to an empty store. */
  const rates = new Map<string, number[]>()
  /** Busy CPU of the whole machine (server, store, clients) per close, µs. */
  const cpu = new Map<string, number[]>()
  /** Batched ÷ one by one, records/s, in the same run. */
  const ratios = new Map<StoreKind, number[]>()
  let leftOver = 0
  const clients = await ClientGroup.start(scale.clientProcesses)
  const servers = new Map<string, RunningServer>()
  try {
    for (const store of stores) {
      for (const side of SIDES) {
        const server = await startServer('warden', store, {
          heartbeatMs: 0,
          removeOneByOne: side.oneByOne,
        })
        servers.set(`${store}:${side.key}`, server)
      }
    }
    for (let run = 0; run < scale.runs; run++) {
      for (const store of stores) {
        const rate: Partial<Record<(typeof SIDES)[number]['key'], number>> = {}
        for (const side of run % 2 === 0 ? SIDES : [...SIDES].reverse()) {
          const key = `${store}:${side.key}`
          const server = servers.get(key) as RunningServer
          const opened = await clients.connect(server.url, server.config, connections, inflight)
          await untilStored(server, opened.opened, 30_000)
          await settle()
          const start = performance.now()
          const before = cpuTimes()
          await clients.closeAll()
          const stored = await untilStored(server, 0, 60_000)
          const ms = performance.now() - start
          const busy = busyMs(before, cpuTimes())
          await untilConnections(server, 0)
          leftOver += stored
          const removedPerSecond = ((opened.opened - stored) / ms) * 1000
          rate[side.key] = removedPerSecond
          push(rates, key, removedPerSecond)
          if (busy !== undefined) push(cpu, key, (busy * 1000) / Math.max(1, opened.opened))
        }
        if (rate.batched !== undefined && rate.single !== undefined) {
          push(ratios, store, rate.batched / rate.single)
        }
      }
      log(`closes: run ${run + 1}/${scale.runs} done`)
    }
  } finally {
    await Promise.all([clients.stop(), ...[...servers.values()].map((server) => server.stop())])
  }

  const rows: Cell[][] = stores.flatMap((store) =>
    SIDES.map((side): Cell[] => {
      const values = rates.get(`${store}:${side.key}`)
      const ratio = ratios.get(store)
      return [
        side.label,
        store,
        values ? summarize(values) : null,
        side.oneByOne ? '–' : ratio ? summarize(ratio) : null,
        summarize(cpu.get(`${store}:${side.key}`) ?? []),
      ]
    }),
  )
  const table: Table = {
    id: 'closes',
    title: `Mass disconnect: ${connections.toLocaleString('en-US')} connections of one warden close at once`,
    columns: [
      { title: 'removals', unit: 'text' },
      { title: 'store', unit: 'text' },
      { title: 'records removed/s', unit: 'int' },
      { title: 'vs one by one', unit: 'ratio' },
      { title: 'machine CPU µs per close', unit: 'int' },
    ],
    rows,
    notes: [
      `Core \`handleUpgrade\` servers, two per store (one with its session store's \`removeMany\` hidden), on a fresh prefix or schema each. A measurement opens ${connections.toLocaleString('en-US')} connections (${inflight} in flight, not timed), waits for the store to hold their records and for a quiet machine, then closes every client at once and polls the store (every 5 ms) until it holds none: records removed/s is from the first close to the empty store. ${scale.runs} runs, the two sides in turn (the other way round every other run); the ratio is taken inside each run.`,
      "Machine CPU: all cores' busy time over the same span (from /proc/stat, 10 ms ticks) ÷ connections: the server, the store (Redis or the database) and the closing clients together.",
      ...(leftOver > 0
        ? [`**${leftOver} record(s) were still in a store** when its wait of 60 s ended.`]
        : []),
      ...(stores.length === 0 ? ['Not measured: no Redis, PostgreSQL or MySQL answered.'] : []),
    ],
  }
  return { tables: [table], targets: [] }
}
