/**
 * Profiles one server under a benchmark's load and prints where its CPU time goes:
 * `node --import tsx src/profile.ts <admission|broadcast> [kind] [store] [connections]`, or
 * `... src/profile.ts demo [store] [connections]` for the demo app's `/ws`.
 * The server is warmed up first (as the admission benchmark does); only the measured phase is
 * profiled, and the profile is summarized by package, by function's own time and by function's
 * time with what it calls.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDemo, untilDemoConnections } from './demo.js'
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
  readonly children?: readonly number[]
}
interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

const args = process.argv.slice(2)
const mode = args[0] ?? 'admission'
const [kind, store, count] =
  mode === 'demo'
    ? ['demo', args[1] ?? 'memory', args[2] ?? '5000']
    : [args[1] ?? 'warden', args[2] ?? 'memory', args[3] ?? '5000']
const connections = Number(count)
const clients = await ClientGroup.start(1)
/** Monotonic µs, the clock of V8's profiles. */
const nowMicros = (): number => Number(process.hrtime.bigint() / 1000n)
let profile: Profile
let opened: { opened: number; ms: number }
let cpu: number | undefined

if (mode === 'demo') {
  // The demo is its own process: it writes its whole profile as it exits, and only the samples
  // of the measured phase are kept.
  const dir = mkdtempSync(join(tmpdir(), 'wsw-prof-'))
  const demo = await startDemo(store as StoreKind, ['--cpu-prof', `--cpu-prof-dir=${dir}`])
  let window: [number, number]
  try {
    await clients.connect(demo.url, demo.config, 1_000, 100)
    await clients.closeAll()
    await untilDemoConnections(demo, 0)
    const before = demo.cpuMicros()
    const from = nowMicros()
    opened = await clients.connect(demo.url, demo.config, connections, 100)
    await untilDemoConnections(demo, opened.opened)
    window = [from, nowMicros()]
    const after = demo.cpuMicros()
    if (before !== undefined && after !== undefined) cpu = (after - before) / opened.opened
    await clients.closeAll()
  } finally {
    await demo.stop()
    await clients.stop()
  }
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))
  if (!file) throw new Error(`no profile in ${dir}`)
  profile = within(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile, window)
} else {
  // As the benchmark runs it: only the broadcast's connections join a channel.
  const server = await startServer(kind as ServerKind, store as StoreKind, {
    heartbeatMs: 0,
    ...(mode === 'broadcast' && { autoJoin: 'bench' }),
  })
  try {
    // Unmeasured: compiles the hot paths, grows the heap, fills the pools.
    await clients.connect(server.url, server.config, 1_000, 100)
    await clients.closeAll()
    await untilConnections(server, 0)
    const before = await server.stats()
    await server.profile('start')
    opened = await clients.connect(server.url, server.config, connections, 100)
    await untilConnections(server, opened.opened)
    if (mode === 'broadcast') {
      for (let i = 0; i < 5; i++) {
        await clients.arm(100)
        await server.broadcast({ target: 'all', channel: 'bench', count: 100, bytes: 100 })
        await clients.wait(60_000)
      }
    }
    profile = (await server.profile('stop')) as Profile
    cpu = ((await server.stats()).cpuMicros - before.cpuMicros) / opened.opened
    await clients.closeAll()
  } finally {
    await server.stop()
    await clients.stop()
  }
}
console.log(
  `${kind}/${store}: ${opened.opened} connections in ${Math.round(opened.ms)} ms (${Math.round((opened.opened / opened.ms) * 1000)}/s), server CPU ${cpu?.toFixed(0) ?? '?'} µs per connection (profiler on)`,
)

/** The samples of `profile` taken within `[from, to]` (monotonic µs). */
function within(whole: Profile, [from, to]: [number, number]): Profile {
  const samples: number[] = []
  const timeDeltas: number[] = []
  let at = whole.startTime
  whole.samples.forEach((id, i) => {
    at += whole.timeDeltas[i] ?? 0
    if (at < from || at > to) return
    samples.push(id)
    timeDeltas.push(whole.timeDeltas[i] ?? 0)
  })
  return { ...whole, samples, timeDeltas, startTime: from, endTime: to }
}

const file = join(tmpdir(), `wsw-${kind}-${store}-${Date.now()}.cpuprofile`)
writeFileSync(file, JSON.stringify(profile))
const interval = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length) / 1000
const hits = new Map<number, number>()
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1)
const parent = new Map<number, number>()
for (const node of profile.nodes)
  for (const child of node.children ?? []) parent.set(child, node.id)
const nodes = new Map(profile.nodes.map((node) => [node.id, node]))

const keyOf = (node: ProfileNode): string => {
  const { functionName, url, lineNumber } = node.callFrame
  return `${functionName || '(anonymous)'} ${where(url)}:${lineNumber + 1}`
}
function where(url: string): string {
  return url
    .replace(/^file:\/\//, '')
    .replace(/.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
    .replace(/.*\/work\/[^/]+\//, '')
}
function packageOf(node: ProfileNode): string {
  const { functionName, url } = node.callFrame
  const path = where(url)
  return (
    /^(packages\/[^/]+|@[^/]+\/[^/]+|[^/]+)\//.exec(path)?.[1] ??
    (path === '' ? functionName || '(native)' : path.startsWith('node:') ? 'node internals' : path)
  )
}

const self = new Map<string, number>()
const inclusive = new Map<string, number>()
const byPackage = new Map<string, number>()
const add = (map: Map<string, number>, key: string, ms: number): void => {
  map.set(key, (map.get(key) ?? 0) + ms)
}
for (const [id, n] of hits) {
  const node = nodes.get(id) as ProfileNode
  const ms = n * interval
  add(self, keyOf(node), ms)
  add(byPackage, packageOf(node), ms)
  // Each function on the stack once, however deep its recursion.
  const seen = new Set<string>()
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const key = keyOf(nodes.get(at) as ProfileNode)
    if (seen.has(key)) continue
    seen.add(key)
    add(inclusive, key, ms)
  }
}
const total = [...self.values()].reduce((sum, ms) => sum + ms, 0)
const perConnection = (ms: number): string => `${((ms * 1000) / opened.opened).toFixed(1)} µs`
const top = (map: Map<string, number>, n: number): string[] =>
  [...map]
    .filter(([key]) => !/^\((root|idle|program)\)/.test(key))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([key, ms]) =>
        `${((ms / total) * 100).toFixed(1).padStart(5)}%  ${perConnection(ms).padStart(10)}  ${key}`,
    )
console.log(
  `\nprofile ${file}: ${total.toFixed(0)} ms sampled (per connection: the share of one admission)\n\nby package:\n${top(byPackage, 15).join('\n')}\n\nby function (own time):\n${top(self, 30).join('\n')}\n\nby function (with what it calls):\n${top(inclusive, 40).join('\n')}`,
)
