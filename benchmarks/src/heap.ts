/**
 * Shows what a server keeps per idle connection: `node --import tsx src/heap.ts [kind] [store]
 * [connections]`. The server runs with `--heapsnapshot-signal`; a snapshot is taken before and
 * after the connections open, and the objects they added are summed by type and constructor,
 * by shape (their first retainers), and by owner (the nearest class-made object holding them).
 */
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StoreKind } from './services.js'
import { ClientGroup, startServer, untilConnections } from './harness.js'
import { sleep } from './stats.js'
import type { ServerKind } from './workers/server.js'

interface Snapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: string[]
      readonly node_types: [string[], ...unknown[]]
      readonly edge_fields: string[]
      readonly edge_types: [string[], ...unknown[]]
    }
  }
  readonly nodes: number[]
  readonly edges: number[]
  readonly strings: string[]
}

/** Ids of every node in a snapshot. */
function nodeIds(file: string): Set<number> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const fields = snap.snapshot.meta.node_fields
  const idAt = fields.indexOf('id')
  const ids = new Set<number>()
  for (let i = 0; i < snap.nodes.length; i += fields.length) ids.add(snap.nodes[i + idAt] as number)
  return ids
}

/**
 * The nodes of `file` whose id is not in `old`, by type, name and (objects, arrays) the names
 * of their first properties: which object literals a connection adds.
 */
function added(
  file: string,
  old: Set<number>,
): {
  byShape: Map<string, { count: number; bytes: number }>
  byOwner: Map<string, { count: number; bytes: number }>
} {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const meta = snap.snapshot.meta
  const width = meta.node_fields.length
  const types = meta.node_types[0]
  const edgeTypes = meta.edge_types[0]
  const ew = meta.edge_fields.length
  const at = (name: string): number => meta.node_fields.indexOf(name)
  const [typeAt, nameAt, sizeAt, idAt, edgesAt] = [
    'type',
    'name',
    'self_size',
    'id',
    'edge_count',
  ].map(at) as [number, number, number, number, number]
  const eType = meta.edge_fields.indexOf('type')
  const eName = meta.edge_fields.indexOf('name_or_index')
  const eTo = meta.edge_fields.indexOf('to_node')
  const folded = ['concatenated string', 'sliced string', 'number', 'code', 'hidden']
  const nameOf = (i: number): string => {
    const type = types[snap.nodes[i + typeAt] as number] as string
    if (type === 'string')
      return `"${(snap.strings[snap.nodes[i + nameAt] as number] ?? '').slice(0, 12)}"`
    return folded.includes(type) ? type : (snap.strings[snap.nodes[i + nameAt] as number] ?? '')
  }
  // The first retainer of every node: "parent.edge".
  const retainer = new Map<number, string>()
  const parent = new Map<number, number>()
  let edge = 0
  for (let i = 0; i < snap.nodes.length; i += width) {
    const edgeCount = snap.nodes[i + edgesAt] as number
    for (let e = edge; e < edge + edgeCount * ew; e += ew) {
      const kind = edgeTypes[snap.edges[e + eType] as number]
      if (kind === 'weak') continue
      const to = snap.edges[e + eTo] as number
      if (retainer.has(to)) continue
      const label =
        kind === 'element' || kind === 'hidden'
          ? '[]'
          : (snap.strings[snap.edges[e + eName] as number] ?? '?')
      retainer.set(to, `${nameOf(i)}.${label}`)
      parent.set(to, i)
    }
    edge += edgeCount * ew
  }
  // The nearest first-retainer ancestor made by a class of its own (LiveConnection, WebSocket,
  // a store), within a few steps: who a plain object, array or number is there for.
  const generic = /^(Object|Array|Map|Set|system \/ .*|\(.*\)|hidden|number|code|closure|)$/
  const ownerOf = (i: number): string => {
    let at: number | undefined = parent.get(i)
    for (let step = 0; at !== undefined && step < 8; step++, at = parent.get(at)) {
      const type = types[snap.nodes[at + typeAt] as number] as string
      const name = nameOf(at)
      if (type === 'object' && !generic.test(name)) return name
    }
    return '(no named owner within 8 steps)'
  }
  const out = new Map<string, { count: number; bytes: number }>()
  const byOwner = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < snap.nodes.length; i += width) {
    if ((snap.nodes[i + sizeAt] as number) > 20_000) {
      const isNew = old.has(snap.nodes[i + idAt] as number) ? 'old' : 'new'
      console.log(`large ${isNew} ${snap.nodes[i + sizeAt]} ${nameOf(i)} <- ${retainer.get(i)}`)
    }
    if (old.has(snap.nodes[i + idAt] as number)) continue
    const type = types[snap.nodes[i + typeAt] as number] as string
    const name = type === 'string' ? 'string' : nameOf(i)
    const up = parent.get(i)
    const up2 = up === undefined ? undefined : parent.get(up)
    const chain = [i, up, up2].flatMap((n) => (n === undefined ? [] : [retainer.get(n) ?? '']))
    const key = `${type}:${name.slice(0, 40)} <- ${chain.join(' <- ').slice(0, 120)}`
    const entry = out.get(key) ?? { count: 0, bytes: 0 }
    entry.count += 1
    entry.bytes += snap.nodes[i + sizeAt] as number
    out.set(key, entry)
    const ownerKey = `${type}:${name.slice(0, 30)} for ${ownerOf(i)}`
    const owned = byOwner.get(ownerKey) ?? { count: 0, bytes: 0 }
    owned.count += 1
    owned.bytes += snap.nodes[i + sizeAt] as number
    byOwner.set(ownerKey, owned)
  }
  return { byShape: out, byOwner }
}

/** Count and self size per `type:name` (names of strings and code are folded). */
function summarize(file: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const folded = ['string', 'concatenated string', 'sliced string', 'number', 'code', 'hidden']
  const out = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] as string
    const name = folded.includes(type) ? '' : (snap.strings[snap.nodes[i + nameAt] as number] ?? '')
    const key = `${type}:${name.slice(0, 60)}`
    const entry = out.get(key) ?? { count: 0, bytes: 0 }
    entry.count += 1
    entry.bytes += snap.nodes[i + sizeAt] as number
    out.set(key, entry)
  }
  return out
}

const [kind = 'warden', store = 'memory', count = '2000'] = process.argv.slice(2)
const connections = Number(count)
const dir = mkdtempSync(join(tmpdir(), 'wsw-heap-'))
const clients = await ClientGroup.start(1)
process.env.WSW_BENCH_SERVER_FLAGS = `${process.env.WSW_BENCH_SERVER_FLAGS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`
const server = await startServer(kind as ServerKind, store as StoreKind, {
  heartbeatMs: Number(process.env.WSW_HEAP_HEARTBEAT_MS ?? 1_000),
})
delete process.env.WSW_BENCH_SERVER_FLAGS
const pid = (server.worker as unknown as { child: { pid?: number } }).child.pid

function endsJson(path: string, size: number): boolean {
  const tail = Buffer.alloc(Math.min(size, 16))
  const fd = openSync(path, 'r')
  readSync(fd, tail, 0, tail.length, size - tail.length)
  closeSync(fd)
  return tail.toString('latin1').trimEnd().endsWith('}')
}

async function snapshot(): Promise<string> {
  const before = new Set(readdirSync(dir))
  await server.stats(true)
  process.kill(pid ?? Number.NaN, 'SIGUSR2')
  for (let i = 0; i < 600; i++) {
    await sleep(200)
    const fresh = readdirSync(dir).find((name) => !before.has(name))
    if (fresh) {
      // Complete once it ends the JSON document and its size has stopped changing.
      const path = join(dir, fresh)
      let size = -1
      while (statSync(path).size !== size || size === 0 || !endsJson(path, size)) {
        size = statSync(path).size
        await sleep(1_000)
      }
      return path
    }
  }
  throw new Error('no heap snapshot written')
}

await clients.connect(server.url, server.config, Number(process.env.WSW_HEAP_WARMUP ?? 20), 5)
await clients.closeAll()
await untilConnections(server, 0)
await sleep(300)
if (process.env.WSW_HEAP_RSS_ONLY !== undefined) {
  // Just the memory bench's figures, at this scale: no snapshot inflates the second reading.
  const before = await server.stats(true)
  const opened = await clients.connect(server.url, server.config, connections, 200, 300_000)
  await untilConnections(server, opened.opened)
  await sleep(1_000)
  const after = await server.stats(true)
  const per = (field: 'rss' | 'heapUsed' | 'external'): string =>
    ((after[field] - before[field]) / opened.opened / 1024).toFixed(2)
  console.log(
    `${kind}/${store} ${opened.opened} (${after.connections} open): rss ${per('rss')} KiB/conn, heap ${per('heapUsed')}, external ${per('external')}`,
  )
  await clients.closeAll()
  await server.stop()
  await clients.stop()
  process.exit(0)
}
const first = await snapshot()
const opened = await clients.connect(server.url, server.config, connections, 100)
await untilConnections(server, opened.opened)
await sleep(1_000)
const live = (await server.stats()).connections
const second = await snapshot()
await clients.closeAll()
await server.stop()
await clients.stop()

const a = summarize(first)
const b = summarize(second)
const rows = [...b]
  .map(([key, after]) => {
    const was = a.get(key) ?? { count: 0, bytes: 0 }
    return { key, count: after.count - was.count, bytes: after.bytes - was.bytes }
  })
  .filter((row) => row.bytes !== 0)
  .sort((x, y) => y.bytes - x.bytes)
const total = rows.reduce((sum, row) => sum + row.bytes, 0)
if (live !== opened.opened) console.log(`warning: ${live} of ${opened.opened} still open`)
console.log(
  `${kind}/${store}: ${opened.opened} connections, heap self size added ${(total / opened.opened).toFixed(0)} B/conn\n`,
)
const print = (list: { key: string; count: number; bytes: number }[]): void => {
  for (const row of list.slice(0, Number(process.env.WSW_HEAP_ROWS ?? 70))) {
    console.log(
      `${(row.bytes / opened.opened).toFixed(1).padStart(8)} B/conn ${(row.count / opened.opened).toFixed(2).padStart(7)} obj/conn  ${row.key}`,
    )
  }
}
print(rows)
console.log('\nobjects new in the second snapshot, by shape:\n')
const { byShape, byOwner } = added(second, nodeIds(first))
const sorted = (map: Map<string, { count: number; bytes: number }>) =>
  [...map].map(([key, entry]) => ({ key, ...entry })).sort((x, y) => y.bytes - x.bytes)
print(sorted(byShape))
console.log('\nobjects new in the second snapshot, by the nearest named object holding them:\n')
print(sorted(byOwner))
rmSync(dir, { recursive: true, force: true })
