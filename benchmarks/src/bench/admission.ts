/** Benchmark 2: connections per second through the whole admission pipeline, against raw ws. */
import type { BenchContext } from '../harness.js'
import { ClientGroup } from '../harness.js'
import type { Measured } from '../measured.js'
import { startMeasured } from '../measured.js'
import type { StoreKind } from '../services.js'
import { STORE_KINDS } from '../services.js'
import { settle } from '../settle.js'
import { push, summarize } from '../stats.js'
import type { BenchResult, Cell, Table, TargetLine } from '../table.js'
import { median } from '../table.js'
import type { ServerKind } from '../workers/server.js'

export const ADAPTERS: readonly { kind: ServerKind; label: string }[] = [
  { kind: 'warden', label: 'core `handleUpgrade` (bare Node)' },
  { kind: 'fastify', label: 'Fastify plugin' },
  { kind: 'express', label: 'Express adapter' },
  { kind: 'koa', label: 'Koa middleware' },
]

/** The demo app's row of each store (it runs on Fastify by default). */
const DEMO_LABEL = 'demo app `/ws` (Fastify, as `pnpm demo` runs it)'

/** Issue 16's targets, vs raw ws in the same run: every row of a store (memory: core only). */
const TARGETS: Record<StoreKind, number> = { memory: 0.9, redis: 0.8, postgres: 0.6, mysql: 0.5 }
/** On memory, each adapter's own floor. */
const ADAPTER_MEMORY_TARGET = 0.85
/** How far below core an adapter may be, on every store. */
const ADAPTER_GAP = 0.05

export async function admissionBench(context: BenchContext): Promise<BenchResult> {
  const { scale, log } = context
  const { connections, inflight, warmup, slice } = scale.admission
  const stores = STORE_KINDS.filter((kind) => context.stores.includes(kind))
  const combos: { kind: ServerKind | 'demo'; store: StoreKind; key: string }[] = [
    { kind: 'ws', store: 'memory', key: 'ws' },
    ...stores.flatMap((store) =>
      [...ADAPTERS.map(({ kind }) => kind), 'demo' as const].map((kind) => ({
        kind,
        store,
        key: `${kind}:${store}`,
      })),
    ),
  ]
  const rates = new Map<string, number[]>()
  /** Server process CPU (user + system) per opened connection, µs. */
  const cpu = new Map<string, number[]>()
  /** Each combination's conn/s ÷ raw ws's, in the slices of one measurement. */
  const interleaved = new Map<string, number[]>()
  const failures = new Map<string, number>()
  const errors: string[] = []
  /** Milliseconds waited for a quiet machine before each measurement. */
  const settled: number[] = []
  const clients = await ClientGroup.start(scale.clientProcesses)
  // Every server is started once, up front, and measured in turn in every run: the runs of all
  // combinations interleave, so a change of machine load hits them alike.
  const servers = new Map<string, Measured>()
  try {
    for (let i = 0; i < combos.length; i += 4) {
      const batch = combos.slice(i, i + 4)
      const started = await Promise.all(
        batch.map((combo) => startMeasured(combo.kind, combo.store)),
      )
      batch.forEach((combo, j) => servers.set(combo.key, started[j] as Measured))
    }
    // Every server first runs the pipeline unmeasured, so that no run measures a cold JIT.
    for (const combo of combos) {
      const server = servers.get(combo.key) as Measured
      await clients.connect(server.url, server.config, warmup, inflight)
      await clients.closeAll()
      await server.until(0)
    }
    const rawServer = servers.get('ws') as Measured
    const slices = Math.max(1, Math.round(connections / slice))
    /** Opens `slice` connections on `server`; adds what it saw to `into` and the failures. */
    const open = async (key: string, server: Measured, into: { ms: number; opened: number }) => {
      const result = await clients.connect(server.url, server.config, slice, inflight)
      into.ms += result.ms
      into.opened += result.opened
      if (result.failed > 0) {
        failures.set(key, (failures.get(key) ?? 0) + result.failed)
        if (result.firstError !== undefined) errors.push(`${key}: ${result.firstError}`)
      }
    }
    /**
     * One measurement: `slices` slices of raw ws and of the combination, alternating (ABBA:
     * raw, combination, combination, raw...) so that both see the same machine, and a steady
     * drift of its speed falls on both alike. Connections stay open until the end, so no slice
     * pays for another's closes.
     */
    const measure = async (combo: (typeof combos)[number], rawFirst: boolean): Promise<void> => {
      const server = servers.get(combo.key) as Measured
      settled.push(await settle())
      const rawSeen = { ms: 0, opened: 0 }
      const seen = { ms: 0, opened: 0 }
      const before = await Promise.all([rawServer.cpuMicros(), server.cpuMicros()])
      for (let slot = 0; slot < 2 * slices; slot++) {
        const raw = (slot % 4 === 0 || slot % 4 === 3) === rawFirst
        await (raw ? open('ws', rawServer, rawSeen) : open(combo.key, server, seen))
      }
      const after = await Promise.all([rawServer.cpuMicros(), server.cpuMicros()])
      await clients.closeAll()
      await Promise.all([rawServer.until(0), server.until(0)])
      const rawRate = (rawSeen.opened / rawSeen.ms) * 1000
      const rate = (seen.opened / seen.ms) * 1000
      push(rates, 'ws', rawRate)
      push(rates, combo.key, rate)
      push(interleaved, combo.key, rate / rawRate)
      const cpuPer = (i: 0 | 1, opened: number): number | undefined => {
        const [start, end] = [before[i], after[i]]
        return start === undefined || end === undefined ? undefined : (end - start) / opened
      }
      for (const [key, value] of [
        ['ws', cpuPer(0, rawSeen.opened)],
        [combo.key, cpuPer(1, seen.opened)],
      ] as const) {
        if (value !== undefined && Number.isFinite(value)) push(cpu, key, value)
      }
    }
    const governed = combos.filter((combo) => combo.kind !== 'ws')
    // Twice the runs of the other benchmarks: their ratios spread the widest.
    const runs = 2 * scale.runs
    for (let run = 0; run < runs; run++) {
      // Every other run goes in reverse order, and starts its slices on the other side.
      for (const combo of run % 2 === 0 ? governed : [...governed].reverse()) {
        await measure(combo, run % 2 === 0)
      }
      log(`admission: run ${run + 1}/${runs} done`)
    }
  } finally {
    await Promise.all([clients.stop(), ...[...servers.values()].map((server) => server.stop())])
  }

  const raw = rates.get('ws') ?? []
  const rows: Cell[][] = [
    [
      'raw `ws` (no governance)',
      '–',
      summarize(raw),
      summarize(raw.map(() => 1)),
      summarize(cpu.get('ws') ?? []),
      failures.get('ws') ?? 0,
    ],
  ]
  for (const store of STORE_KINDS) {
    for (const { kind, label } of [...ADAPTERS, { kind: 'demo', label: DEMO_LABEL }]) {
      const values = rates.get(`${kind}:${store}`)
      rows.push(
        values
          ? [
              label,
              store,
              summarize(values),
              summarize(interleaved.get(`${kind}:${store}`) ?? []),
              summarize(cpu.get(`${kind}:${store}`) ?? []),
              failures.get(`${kind}:${store}`) ?? 0,
            ]
          : [label, store, null, null, null, null],
      )
    }
  }
  const table: Table = {
    id: 'admission',
    title: `Admission end to end: ${connections.toLocaleString('en-US')} connections, ${inflight} handshakes in flight`,
    columns: [
      { title: 'server', unit: 'text' },
      { title: 'store', unit: 'text' },
      { title: 'conn/s', unit: 'int' },
      { title: 'vs raw ws (interleaved)', unit: 'ratio' },
      { title: 'server CPU µs per connection', unit: 'int' },
      { title: 'failed', unit: 'int' },
    ],
    rows,
    notes: [
      "Every ws-warden connection runs the full pipeline: origin, token verify (HS256, synchronous node:crypto HMAC), one admission step (attempts per IP and per user, single-use consume, caps + session record: the store's one-trip `admit` where it has one, else the composed calls; where the store has `admitMany`, the warden's batching gathers the handshakes in flight into its calls), permissions, attach. Limits are raised so nothing is refused; heartbeats off.",
      `Each combination runs in its own server process, started once, and first opens ${warmup.toLocaleString('en-US')} connections unmeasured (JIT warm-up); ${2 * scale.runs} runs interleave the combinations (run 1 of every combination, then run 2..., every other run in reverse order). Clients run in ${scale.clientProcesses} other process(es) and sign their tokens before the clock starts. A measurement opens ${connections.toLocaleString('en-US')} connections on the combination and as many on raw ws, in alternating slices of ${slice.toLocaleString('en-US')} (raw, combination, combination, raw..., the other way round every other run), and keeps them open to its end; a ratio is the combination's conn/s ÷ raw ws's over the slices of one measurement, then summarized over the runs. This machine's speed jitters: the slices of raw ws inside one measurement range over 2 to 3x, so only what runs side by side compares, and one ratio is read from many slices. The raw ws row summarizes all its measurements. Before each measurement the benchmark waits for a quiet machine (under 15% of its CPU busy over two 100 ms windows, at most 5 s): after a measurement on PostgreSQL or MySQL the database stays busy removing sessions for most of a second (waited ${settled.length > 0 ? `${Math.round(summarize(settled).median)} ms per measurement, median; longest ${Math.round(Math.max(...settled))} ms` : 'nothing'}). Server CPU: the server process's user + system time over the measurement ÷ connections it opened (its store's own CPU, Redis or the database, is not in it); clients and stores share the same cores, so conn/s falls with the CPU every part spends.`,
      ...(errors.length > 0
        ? [`Failures seen: ${[...new Set(errors)].slice(0, 5).join('; ')}`]
        : []),
    ],
  }
  const ratioOf = (label: string, store: StoreKind) =>
    median(rows.find((row) => row[0] === label && row[1] === store)?.[3])
  const name = (label: string) => label.split(' ')[0] as string
  const listed = (values: { label: string; ratio: number }[]) =>
    values.map(({ label, ratio }) => `${name(label)} ${ratio.toFixed(2)}x`).join(', ')
  const targets: TargetLine[] = []
  for (const [store, target] of Object.entries(TARGETS) as [StoreKind, number][]) {
    const measured = ADAPTERS.map(({ label }) => ({ label, ratio: ratioOf(label, store) })).filter(
      ({ ratio }) => Number.isFinite(ratio),
    )
    const [core, ...adapters] = measured
    const floor = (label: string) =>
      store === 'memory' && label !== ADAPTERS[0]?.label ? ADAPTER_MEMORY_TARGET : target
    targets.push({
      target:
        store === 'memory'
          ? `Admission on memory ≥ ${target}x raw ws (core), ≥ ${ADAPTER_MEMORY_TARGET}x (each adapter)`
          : `Admission on ${store} ≥ ${target}x raw ws`,
      measured: measured.length > 0 ? listed(measured) : 'not measured (store not available)',
      met:
        measured.length > 0
          ? measured.every(({ label, ratio }) => ratio >= floor(label))
          : undefined,
    })
    if (core === undefined || adapters.length === 0) continue
    const gaps = adapters.map(({ label, ratio }) => ({ label, ratio: core.ratio - ratio }))
    targets.push({
      target: `Admission on ${store}: each adapter within ${ADAPTER_GAP}x of core`,
      measured: `core minus ${gaps.map(({ label, ratio }) => `${name(label)} ${ratio.toFixed(2)}x`).join(', ')}`,
      met: gaps.every(({ ratio }) => ratio <= ADAPTER_GAP + 1e-9),
    })
  }
  return { tables: [table], targets }
}
