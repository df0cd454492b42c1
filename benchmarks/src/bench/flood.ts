/** Benchmark 6: one client floods while the others chat; the others' latency with and without. */
import type { BenchContext, RunningServer } from '../harness.js'
import { ClientGroup, startServer, withServer } from '../harness.js'
import { ratios, sleep, summarize } from '../stats.js'
import type { BenchResult, Table } from '../table.js'
import type { ChatResult } from '../workers/clients.js'

async function chat(
  clients: ClientGroup,
  roomSize: number,
  rate: number,
  durationMs: number,
): Promise<ChatResult> {
  const results = await Promise.all(
    clients.workers.map((worker, i) =>
      worker.request<ChatResult>(
        'chat',
        { roomSize, roomPrefix: `p${i}-`, rate, durationMs },
        durationMs + 30_000,
      ),
    ),
  )
  return {
    sent: results.reduce((sum, result) => sum + result.sent, 0),
    received: results.reduce((sum, result) => sum + result.received, 0),
    p50: Math.max(...results.map((result) => result.p50)),
    p99: Math.max(...results.map((result) => result.p99)),
    max: Math.max(...results.map((result) => result.max)),
  }
}

async function connectChatters(
  server: RunningServer,
  clients: ClientGroup,
  count: number,
  roomSize: number,
): Promise<void> {
  const opened = await clients.connect(server.url, server.config, count, 100)
  if (opened.opened !== count)
    throw new Error(`flood: opened ${opened.opened}/${count}: ${opened.firstError}`)
  await Promise.all(
    clients.workers.map((worker, i) =>
      worker.request('join', { roomSize, roomPrefix: `p${i}-`, timeoutMs: 10_000 }),
    ),
  )
}

export async function floodBench(context: BenchContext): Promise<BenchResult> {
  const { scale, log } = context
  const { clients: count, roomSize, rate, durationMs } = scale.flood
  const quiet = { p50: [] as number[], p99: [] as number[] }
  const flooded = { p50: [] as number[], p99: [] as number[] }
  const floodRate: number[] = []
  const chatters = await ClientGroup.start(scale.clientProcesses)
  const flooder = await ClientGroup.start(1)
  try {
    for (let run = 0; run < scale.runs; run++) {
      await withServer(
        () => startServer('warden', 'memory', { heartbeatMs: 0 }),
        async (server) => {
          await connectChatters(server, chatters, count, roomSize)
          await flooder.connect(server.url, server.config, 1, 1)
          await flooder.workers[0]?.request('join', {
            roomSize: 1,
            roomPrefix: 'flood-',
            timeoutMs: 10_000,
          })
          await sleep(300)
          const calm = await chat(chatters, roomSize, rate, durationMs)
          quiet.p50.push(calm.p50)
          quiet.p99.push(calm.p99)
          const flooding = flooder.workers[0]?.request<{ sent: number }>(
            'flood',
            { durationMs: durationMs + 500, channel: 'flood-0' },
            durationMs + 30_000,
          )
          await sleep(250)
          const stormy = await chat(chatters, roomSize, rate, durationMs)
          const { sent } = (await flooding) ?? { sent: 0 }
          flooded.p50.push(stormy.p50)
          flooded.p99.push(stormy.p99)
          floodRate.push((sent / (durationMs + 500)) * 1000)
          await chatters.closeAll()
          await flooder.closeAll()
        },
      )
      log(`flood: run ${run + 1}/${scale.runs} done`)
    }
  } finally {
    await Promise.all([chatters.stop(), flooder.stop()])
  }
  const ratio = summarize(ratios(flooded.p99, quiet.p99))
  const table: Table = {
    id: 'flood',
    title: `Under a flood: ${count.toLocaleString('en-US')} clients chatting in rooms of ${roomSize}, ${rate} message/s each, one client flooding`,
    columns: [
      { title: 'condition', unit: 'text' },
      { title: 'p50 ms', unit: 'ms' },
      { title: 'p99 ms', unit: 'ms' },
      { title: 'flood messages/s sent', unit: 'int' },
      { title: 'p99 vs no flood', unit: 'ratio' },
    ],
    rows: [
      [
        'no flood',
        summarize(quiet.p50),
        summarize(quiet.p99),
        0,
        summarize(ratios(quiet.p99, quiet.p99)),
      ],
      [
        'one client flooding',
        summarize(flooded.p50),
        summarize(flooded.p99),
        summarize(floodRate),
        ratio,
      ],
    ],
    notes: [
      `ws-warden core, memory store, default per-connection limit (20 messages/s, burst 20: excess is dropped before JSON parsing, no store I/O; a connection over its limit is not read for \`limits.readPauseMs\`, by default a full refill of its bucket, 1 s, so its frames wait in its own socket buffer). Each chat message goes through a \`chat\` handler to \`warden.toChannel\` (${roomSize} deliveries). Latency: send to receipt, measured in the same client process (rooms never span processes); ${Math.round(durationMs / 1000)} s of chat per condition, both conditions on the same server in each run.`,
      'The flooder keeps its socket buffer under 1 MiB and sends as fast as it drains, into a room of its own.',
    ],
  }
  return {
    tables: [table],
    targets: [
      {
        target: 'Flooded neighbour p99 ≤ 1.5x unflooded p99',
        measured: `${ratio.median.toFixed(2)}x (p99 ${summarize(flooded.p99).median.toFixed(2)} ms vs ${summarize(quiet.p99).median.toFixed(2)} ms)`,
        met: Number.isFinite(ratio.median) ? ratio.median <= 1.5 : undefined,
      },
    ],
  }
}
