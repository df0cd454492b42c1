/** Benchmark 1: the stores side by side, 1 caller and 32 concurrent callers. */
import type { SessionRecord } from '@ws-warden/core/stores'
import type { BenchContext } from '../harness.js'
import type { OpenedStores } from '../open-stores.js'
import { openStores } from '../open-stores.js'
import type { StoreKind } from '../services.js'
import { cleanup, STORE_KINDS, uniqueName } from '../services.js'
import type { Summary } from '../stats.js'
import { percentile, push, sleep, summarize } from '../stats.js'
import type { BenchResult, Cell, Table } from '../table.js'

type Operation = 'consume' | 'hit' | 'add' | 'touch' | 'remove' | 'removeMany'

/** Ids per `removeMany` call: what a warden gathers when a few dozen connections close at once. */
const REMOVE_BATCH = 64
const OPERATIONS: readonly { op: Operation; label: string }[] = [
  { op: 'consume', label: 'token consume' },
  { op: 'hit', label: 'rate-limit hit' },
  { op: 'add', label: 'session add (caps checked)' },
  { op: 'touch', label: 'touch 1,000 sessions (one call)' },
  { op: 'remove', label: 'session remove (one id a call)' },
  { op: 'removeMany', label: `session removeMany (${REMOVE_BATCH} ids a call)` },
]
const CALLERS = [1, 32] as const

interface OpFigures {
  readonly opsPerSec: number
  readonly p50: number
  readonly p99: number
  /** Calls that rejected (counted in the time, not in ops/s), and the first reason. */
  readonly errors: number
  readonly firstError?: string
}

/** Runs `count` operations with `callers` concurrent callers; ops/s and latency percentiles. */
export async function measureOps(
  count: number,
  callers: number,
  op: (i: number) => Promise<unknown>,
): Promise<OpFigures> {
  const latencies = new Float64Array(count)
  let next = 0
  let errors = 0
  let firstError: string | undefined
  const start = performance.now()
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < count) {
        const i = next++
        const t = performance.now()
        try {
          await op(i)
        } catch (error) {
          errors++
          firstError ??= error instanceof Error ? error.message : String(error)
        }
        latencies[i] = performance.now() - t
      }
    }),
  )
  const elapsed = performance.now() - start
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    opsPerSec: ((count - errors) / elapsed) * 1000,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors,
    ...(firstError !== undefined && { firstError }),
  }
}

const CAPS = { perUser: 1_000_000, perIp: 1_000_000, total: 10_000_000 }

function record(id: string, i: number, at: number): SessionRecord {
  return {
    id,
    userId: `u${i % 500}`,
    instanceId: 'bench',
    ip: `10.0.${(i >> 8) & 255}.${i & 255}`,
    channels: [],
    connectedAt: at,
    lastSeenAt: at,
  }
}

/** Adds a record for each id (unmeasured set-up), 100 at a time. */
async function addSessions(stores: OpenedStores, ids: readonly string[], at: number) {
  for (let i = 0; i < ids.length; i += 100) {
    await Promise.all(
      ids.slice(i, i + 100).map((id, j) => stores.sessions.add(record(id, i + j, at))),
    )
  }
}

/** The figures of `count` operations; undefined where the store has no such operation. */
async function runOperation(
  stores: OpenedStores,
  op: Operation,
  callers: number,
  count: number,
  batch: number,
  tag: string,
): Promise<OpFigures | undefined> {
  const now = Date.now()
  switch (op) {
    case 'consume':
      return measureOps(count, callers, (i) => stores.tokens.consume(`${tag}j${i}`, now + 600_000))
    case 'hit':
      return measureOps(count, callers, (i) =>
        stores.rateLimits.hit(`${tag}k${i % 1000}`, 1_000_000_000, 600_000),
      )
    case 'add':
      return measureOps(count, callers, (i) =>
        stores.sessions.add(record(`${tag}s${i}`, i, now), CAPS),
      )
    case 'touch': {
      const ids = Array.from({ length: batch }, (_, i) => `${tag}t${i}`)
      await addSessions(stores, ids, now)
      return measureOps(count, callers, () => stores.sessions.touch(ids, Date.now()))
    }
    case 'remove': {
      const ids = Array.from({ length: count }, (_, i) => `${tag}r${i}`)
      await addSessions(stores, ids, now)
      return measureOps(count, callers, (i) => stores.sessions.remove(ids[i] as string))
    }
    case 'removeMany': {
      const { sessions } = stores
      if (sessions.removeMany === undefined) return undefined
      const removeMany = sessions.removeMany.bind(sessions)
      const ids = Array.from({ length: count }, (_, i) => `${tag}m${i}`)
      await addSessions(stores, ids, now)
      const calls = Math.ceil(count / REMOVE_BATCH)
      const figures = await measureOps(calls, callers, (i) =>
        removeMany(ids.slice(i * REMOVE_BATCH, (i + 1) * REMOVE_BATCH)),
      )
      return { ...figures, opsPerSec: figures.opsPerSec * (count / calls) }
    }
  }
}

/** Fills the token store with `count` ids that are expired by the time it returns. */
async function fillExpiredTokens(
  kind: StoreKind,
  stores: OpenedStores,
  count: number,
  skew: { ms: number },
): Promise<void> {
  const now = Date.now()
  if (stores.sql && stores.table) {
    const table = stores.table('tokens')
    const expired = now - 60_000
    for (let from = 0; from < count; from += 5_000) {
      const rows = Math.min(5_000, count - from)
      if (kind === 'postgres') {
        await stores.sql(
          `INSERT INTO ${table} (jti, expires_at) SELECT 'x' || g, $1::bigint FROM generate_series($2::int, $3::int) g`,
          [expired, from, from + rows - 1],
        )
      } else {
        const values = Array.from({ length: rows }, () => '(?, ?)')
        const params = Array.from({ length: rows }, (_, i) => [`x${from + i}`, expired]).flat()
        await stores.sql(
          `INSERT INTO ${table} (jti, expires_at) VALUES ${values.join(', ')}`,
          params,
        )
      }
    }
    return
  }
  if (kind === 'memory') {
    // The memory store reads its (skewable) clock: fill now, then move the clock past expiry.
    await measureOps(count, 32, (i) => stores.tokens.consume(`x${i}`, now + 60_000))
    skew.ms = 120_000
    return
  }
  // Redis: ids expire by themselves; sweep cleans the expiry index.
  const expiresAt = now + 3_000
  await measureOps(count, 256, (i) => stores.tokens.consume(`x${i}`, expiresAt + (i % 2)))
  const wait = expiresAt + 10 - Date.now()
  if (wait > 0) await sleep(wait)
}

export async function storesBench(context: BenchContext): Promise<BenchResult> {
  const { scale, log } = context
  const kinds = STORE_KINDS.filter((kind) => context.stores.includes(kind))
  /** throughput[kind][op:callers] -> per-run ops/s; latency likewise. */
  const throughput = new Map<string, number[]>()
  const p50s = new Map<string, number[]>()
  const p99s = new Map<string, number[]>()
  const failures = new Map<string, { errors: number; first: string }>()
  const sweepMs = new Map<StoreKind, number[]>()
  const sweepRemoved = new Map<StoreKind, number[]>()
  for (let run = 0; run < scale.runs; run++) {
    for (const kind of kinds) {
      const name = uniqueName(`s${kind.slice(0, 2)}`)
      const skew = { ms: 0 }
      const stores = await openStores(kind, name, { clock: { now: () => Date.now() + skew.ms } })
      try {
        for (const { op } of OPERATIONS) {
          for (const callers of CALLERS) {
            const count = op === 'touch' ? scale.stores.touchOps[kind] : scale.stores.ops[kind]
            const figures = await runOperation(
              stores,
              op,
              callers,
              count,
              scale.stores.touchBatch,
              `r${run}c${callers}`,
            )
            if (figures === undefined) continue
            const key = `${kind}:${op}:${callers}`
            push(throughput, key, figures.opsPerSec)
            push(p50s, key, figures.p50)
            push(p99s, key, figures.p99)
            if (figures.errors > 0) {
              const seen = failures.get(key)
              failures.set(key, {
                errors: (seen?.errors ?? 0) + figures.errors,
                first: seen?.first ?? figures.firstError ?? '?',
              })
            }
          }
        }
        await fillExpiredTokens(kind, stores, scale.stores.sweepRecords, skew)
        const t = performance.now()
        const removed = await stores.tokens.sweep(Date.now() + skew.ms)
        push(sweepMs, kind, performance.now() - t)
        push(sweepRemoved, kind, removed)
        log(`stores: run ${run + 1} ${kind} done`)
      } finally {
        await stores.close().catch(() => undefined)
        await cleanup(kind, name).catch(() => undefined)
      }
    }
  }

  const missing = STORE_KINDS.filter((kind) => !kinds.includes(kind))
  const cell = (map: Map<string, number[]>, key: string): Cell => {
    const values = map.get(key)
    return values ? summarize(values) : null
  }
  const throughputTable: Table = {
    id: 'stores-throughput',
    title: 'Stores: operations per second (median of runs, min–max)',
    columns: [
      { title: 'operation', unit: 'text' },
      { title: 'callers', unit: 'text' },
      ...STORE_KINDS.map((kind) => ({ title: kind, unit: 'int' as const })),
    ],
    rows: OPERATIONS.flatMap(({ op, label }) =>
      CALLERS.map((callers): Cell[] => [
        label,
        String(callers),
        ...STORE_KINDS.map((kind) => cell(throughput, `${kind}:${op}:${callers}`)),
      ]),
    ),
    notes: [
      `Operations per measurement: ${STORE_KINDS.map((kind) => `${kind} ${scale.stores.ops[kind]}`).join(', ')}; touch calls: ${STORE_KINDS.map((kind) => `${kind} ${scale.stores.touchOps[kind]}`).join(', ')} (each touches ${scale.stores.touchBatch} ids). ${scale.runs} runs, each on a fresh key prefix / schema, cleaned up after.`,
      'SQL stores use a pool of 8 connections (as in the anchors); Redis one ioredis client. Session add passes caps (per user, per IP, total), as admission does.',
      'Memory figures include `performance.now()` around every call, which dominates at this speed: read them as "not the bottleneck".',
      `Session remove and removeMany: ops/s are records removed per second (each measurement first adds its records, unmeasured); removeMany is what a warden sends as connections close (the closes of a turn, at most 256 ids a call), here ${REMOVE_BATCH} ids a call, with 1 or 32 calls out. The memory store has no removeMany: a warden removes its records one by one, in process.`,
      ...(missing.length > 0
        ? [`Not measured (service not answering): ${missing.join(', ')}.`]
        : []),
      ...[...failures].map(
        ([key, { errors, first }]) =>
          `**Errors** in ${key.replace(/:/g, ' / ')} callers: ${errors} call(s) rejected over all runs (first: "${first}"); ops/s counts successful calls only.`,
      ),
    ],
  }
  const latencyCell = (kind: StoreKind, key: string): Cell => {
    const a = p50s.get(`${kind}:${key}`)
    const b = p99s.get(`${kind}:${key}`)
    if (!a || !b) return null
    const fmt = (s: Summary): string =>
      s.median >= 10 ? s.median.toFixed(1) : s.median.toPrecision(2)
    return `${fmt(summarize(a))} / ${fmt(summarize(b))}`
  }
  const latencyTable: Table = {
    id: 'stores-latency',
    title: 'Stores: latency per call, p50 / p99 in ms (median of runs)',
    columns: [
      { title: 'operation', unit: 'text' },
      { title: 'callers', unit: 'text' },
      ...STORE_KINDS.map((kind) => ({ title: kind, unit: 'text' as const })),
    ],
    rows: OPERATIONS.flatMap(({ op, label }) =>
      CALLERS.map((callers): Cell[] => [
        label,
        String(callers),
        ...STORE_KINDS.map((kind) => latencyCell(kind, `${op}:${callers}`)),
      ]),
    ),
    notes: [
      'With 32 callers the latency includes the wait for a pool connection (SQL) or the pipeline (Redis).',
    ],
  }
  const sweepTable: Table = {
    id: 'stores-sweep',
    title: `Stores: sweep of ${scale.stores.sweepRecords.toLocaleString('en-US')} expired token records`,
    columns: [
      { title: 'store', unit: 'text' },
      { title: 'sweep ms', unit: 'ms' },
      { title: 'records removed', unit: 'int' },
      { title: 'records/s', unit: 'int' },
    ],
    rows: STORE_KINDS.map((kind): Cell[] => {
      const ms = sweepMs.get(kind)
      const removed = sweepRemoved.get(kind)
      if (!ms || !removed) return [kind, null, null, null]
      return [
        kind,
        summarize(ms),
        summarize(removed),
        summarize(ms.map((value, i) => ((removed[i] ?? 0) / value) * 1000)),
      ]
    }),
    notes: [
      'One `tokens.sweep(now)` call over a table (or index) holding only expired ids. SQL: filled with bulk INSERTs, swept in batches of 5,000 rows. Redis: ids expire by themselves (PXAT); the sweep trims the expiry index. Memory: an LRU with expiry.',
    ],
  }
  return { tables: [throughputTable, latencyTable, sweepTable], targets: [] }
}
