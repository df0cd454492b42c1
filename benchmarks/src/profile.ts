/**
 * Profiles one server under a benchmark's load and prints where its CPU time goes:
 * `node --import tsx src/profile.ts <admission|broadcast> [kind] [store] [connections]`.
 * The server runs with `--cpu-prof`; the profile is summarized by function and by package.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StoreKind } from './services.js'
import { ClientGroup, startServer, untilConnections } from './harness.js'
import type { ServerKind } from './workers/server.js'

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
  }
  readonly hitCount?: number
}
interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
}

const [mode = 'admission', kind = 'warden', store = 'memory', count = '4000'] =
  process.argv.slice(2)
const connections = Number(count)
const dir = mkdtempSync(join(tmpdir(), 'wsw-prof-'))
const clients = await ClientGroup.start(1)
process.env.WSW_BENCH_SERVER_FLAGS = `--cpu-prof --cpu-prof-dir=${dir}`
const server = await startServer(kind as ServerKind, store as StoreKind, {
  heartbeatMs: 0,
  autoJoin: 'bench',
})
delete process.env.WSW_BENCH_SERVER_FLAGS
const result = await clients.connect(server.url, server.config, connections, 100)
console.log(
  `${kind}/${store}: ${result.opened} connections in ${Math.round(result.ms)} ms (${Math.round((result.opened / result.ms) * 1000)}/s)`,
)
if (mode === 'broadcast') {
  await untilConnections(server, connections)
  for (let i = 0; i < 5; i++) {
    await clients.arm(100)
    await server.broadcast({ target: 'all', channel: 'bench', count: 100, bytes: 100 })
    await clients.wait(60_000)
  }
}
await clients.closeAll()
await server.stop()
await clients.stop()

const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))
if (!file) throw new Error(`no profile in ${dir}`)
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile
const interval = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length) / 1000
const byFunction = new Map<string, number>()
const byPackage = new Map<string, number>()
const hits = new Map<number, number>()
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1)
for (const node of profile.nodes) {
  const ms = (hits.get(node.id) ?? 0) * interval
  if (ms === 0) continue
  const { functionName, url, lineNumber } = node.callFrame
  const where = url
    .replace(/^file:\/\//, '')
    .replace(/.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
    .replace(/.*\/work\/main\//, '')
  const key = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + ms)
  const pkg =
    /^(packages\/[^/]+|@[^/]+\/[^/]+|[^/]+)\//.exec(where)?.[1] ??
    (where === ''
      ? functionName || '(native)'
      : where.startsWith('node:')
        ? 'node internals'
        : where)
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms)
}
const total = [...byFunction.values()].reduce((sum, ms) => sum + ms, 0)
const top = (map: Map<string, number>, n: number): string[] =>
  [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([key, ms]) =>
        `${((ms / total) * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(6)} ms  ${key}`,
    )
console.log(
  `\nprofile ${join(dir, file)}: ${total.toFixed(0)} ms sampled\n\nby package:\n${top(byPackage, 15).join('\n')}\n\nby function (self time):\n${top(byFunction, 30).join('\n')}`,
)
