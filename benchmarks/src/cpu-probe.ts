/**
 * Server CPU per admitted connection, for work on a busy machine where conn/s is noise:
 * `node --import tsx src/cpu-probe.ts <kind:store>... [--connections N]`. Each server is
 * warmed up, then measured over several rounds; prints the median µs of server CPU per connection.
 */
import { parseArgs } from 'node:util'
import { ClientGroup, startServer, untilConnections } from './harness.js'
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
    const [kind, store = 'memory'] = combo.split(':') as [ServerKind, StoreKind]
    return {
      combo,
      server: await startServer(kind, store, { heartbeatMs: 0 }),
      samples: [] as number[],
    }
  }),
)
try {
  for (const { server } of servers) {
    await clients.connect(server.url, server.config, 1000, 100)
    await clients.closeAll()
    await untilConnections(server, 0)
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const entry of servers) {
      const before = await entry.server.stats()
      const result = await clients.connect(entry.server.url, entry.server.config, connections, 100)
      const after = await entry.server.stats()
      entry.samples.push((after.cpuMicros - before.cpuMicros) / result.opened)
      await clients.closeAll()
      await untilConnections(entry.server, 0)
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
