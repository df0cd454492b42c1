/**
 * Server CPU per admitted connection, for work on a busy machine where conn/s is noise:
 * `node --import tsx src/cpu-probe.ts <kind:store>... [--connections N]` (kind `demo` is the
 * demo app's `/ws`; `demo@<path to main.js>:store` runs another build of it, for an A/B). Each
 * server is warmed up, then measured over several rounds, the servers taking turns; prints the
 * median µs of server CPU per connection.
 */
import { parseArgs } from 'node:util'
import { ClientGroup } from './harness.js'
import { startMeasured } from './measured.js'
import type { StoreKind } from './services.js'
import type { ServerKind } from './workers/server.js'

const { values, positionals } = parseArgs({
  options: {
    connections: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '5' },
  },
  allowPositionals: true,
})
const connections = Number(values.connections)
const clients = await ClientGroup.start(1)
const servers = await Promise.all(
  positionals.map(async (combo) => {
    const split = combo.lastIndexOf(':')
    const [kind, store] =
      split < 0 ? [combo, 'memory' as const] : [combo.slice(0, split), combo.slice(split + 1)]
    return {
      combo,
      server: kind.startsWith('demo@')
        ? await startMeasured('demo', store as StoreKind, kind.slice('demo@'.length))
        : await startMeasured(kind as ServerKind, store as StoreKind),
      samples: [] as number[],
    }
  }),
)
try {
  for (const { server } of servers) {
    await clients.connect(server.url, server.config, 1000, 100)
    await clients.closeAll()
    await server.until(0)
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const entry of servers) {
      const before = await entry.server.cpuMicros()
      const result = await clients.connect(entry.server.url, entry.server.config, connections, 100)
      await entry.server.until(result.opened)
      const after = await entry.server.cpuMicros()
      entry.samples.push(((after ?? Number.NaN) - (before ?? Number.NaN)) / result.opened)
      await clients.closeAll()
      await entry.server.until(0)
    }
  }
  for (const { combo, samples } of servers) {
    const sorted = [...samples].sort((a, b) => a - b)
    console.log(
      `${combo.padEnd(20)} ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} µs/conn (${sorted.map((v) => v.toFixed(0)).join(' ')})`,
    )
  }
} finally {
  await Promise.all([clients.stop(), ...servers.map(({ server }) => server.stop())])
}
