/**
 * Benchmark: one store-level admission (`AdmissionStore.admit`: IP and user attempts, token
 * consume, capped session insert), the store's own one-round-trip `admit` against the same
 * three calls composed (`ComposedAdmission`), in the same run on the same tables.
 */
import type {
  AdmissionStore,
  AdmitRequest,
  AdmitResult,
  SessionRecord,
} from '@ws-warden/core/stores'
import {
  AdmissionBatcher,
  ComposedAdmission,
  DEFAULT_ADMIT_MANY_LIMIT,
} from '@ws-warden/core/stores'
import type { BenchContext } from '../harness.js'
import { openStores, type OpenedStores } from '../open-stores.js'
import { clusterAvailable, startCluster } from '../redis-cluster.js'
import type { StoreKind } from '../services.js'
import { cleanup, STORE_KINDS, uniqueName } from '../services.js'
import { push, ratios, summarize } from '../stats.js'
import type { BenchResult, Cell, Table } from '../table.js'
import { measureOps } from './stores.js'

const CALLERS = [1, 32] as const
const CAPS = { perUser: 1_000_000, perIp: 1_000_000, total: 10_000_000 }
const WAYS = ['composed', 'native', 'batched'] as const

/** The store's `admitMany` behind the warden's batching, as `admit`; undefined without one. */
function batchedAdmission(
  store: AdmissionStore | undefined,
): { admit(request: AdmitRequest): Promise<AdmitResult> } | undefined {
  if (store?.admitMany === undefined) return undefined
  const many = store.admitMany.bind(store)
  return new AdmissionBatcher(many, store.admitManyLimit ?? DEFAULT_ADMIT_MANY_LIMIT)
}

function request(tag: string, i: number, now: number): AdmitRequest {
  const record: SessionRecord = {
    id: `${tag}s${i}`,
    userId: `${tag}u${i % 500}`,
    instanceId: 'bench',
    ip: `${tag}10.0.${(i >> 8) & 255}.${i & 255}`,
    channels: [],
    connectedAt: now,
    lastSeenAt: now,
  }
  return {
    attempts: [
      { key: `connect:ip:${record.ip}`, limit: 1_000_000_000 },
      { key: `connect:user:${record.userId}`, limit: 1_000_000_000 },
    ],
    windowMs: 600_000,
    userId: record.userId,
    jti: `${tag}j${i}`,
    tokenExpiresAt: now + 600_000,
    session: { record, caps: CAPS },
  }
}

/** The rows: every store kind, and Redis Cluster (three masters of the benchmark's own). */
type Row = StoreKind | 'redis-cluster'
const ROWS: readonly Row[] = [...STORE_KINDS, 'redis-cluster']

export async function admitBench(context: BenchContext): Promise<BenchResult> {
  const { scale, log } = context
  const kinds: Row[] = STORE_KINDS.filter((kind) => context.stores.includes(kind))
  const withCluster = context.stores.includes('redis') && clusterAvailable()
  if (withCluster) kinds.push('redis-cluster')
  const cluster = withCluster ? await startCluster(3) : undefined
  /** ops/s per `${kind}:${way}:${callers}`, one value per run. */
  const rates = new Map<string, number[]>()
  const errors: string[] = []
  const measure = async (kind: Row, run: number, stores: OpenedStores): Promise<void> => {
    const composed = new ComposedAdmission(stores)
    const batched = batchedAdmission(stores.admission)
    const ops = scale.stores.ops[kind === 'redis-cluster' ? 'redis' : kind]
    for (const callers of CALLERS) {
      // Alternate which goes first, so that neither always meets the emptier tables.
      const ways = run % 2 === 0 ? WAYS : [...WAYS].reverse()
      for (const way of ways) {
        const admission =
          way === 'composed' ? composed : way === 'native' ? stores.admission : batched
        if (admission === undefined) continue
        const tag = `r${run}c${callers}${way[0]}`
        const now = Date.now()
        const figures = await measureOps(ops, callers, (i) =>
          admission.admit(request(tag, i, now)).then((answer) => {
            if (!answer.ok) throw new Error(`refused: ${JSON.stringify(answer)}`)
          }),
        )
        if (figures.firstError !== undefined) errors.push(`${kind} ${way}: ${figures.firstError}`)
        const key = `${kind}:${way}:${callers}`
        push(rates, key, figures.opsPerSec)
      }
    }
  }
  try {
    for (let run = 0; run < scale.runs; run++) {
      for (const kind of kinds) {
        const name = uniqueName(`a${kind.slice(0, 2)}`)
        const onCluster = kind === 'redis-cluster'
        const stores = await openStores(onCluster ? 'redis' : kind, name, {
          ...(cluster && onCluster && { cluster: cluster.seeds }),
        })
        try {
          await measure(kind, run, stores)
          log(`admit: run ${run + 1} ${kind} done`)
        } finally {
          await stores.close().catch(() => undefined)
          if (!onCluster) await cleanup(kind as StoreKind, name).catch(() => undefined)
        }
      }
    }
  } finally {
    await cluster?.stop()
  }
  const cell = (values: number[] | undefined): Cell => (values ? summarize(values) : null)
  const rows = ROWS.flatMap((kind: Row) =>
    CALLERS.map((callers): Cell[] => {
      const composed = rates.get(`${kind}:composed:${callers}`)
      const native = rates.get(`${kind}:native:${callers}`)
      const batched = rates.get(`${kind}:batched:${callers}`)
      return [
        kind,
        String(callers),
        cell(composed),
        cell(native),
        composed && native ? summarize(ratios(native, composed)) : null,
        cell(batched),
        native && batched ? summarize(ratios(batched, native)) : null,
      ]
    }),
  )
  const table: Table = {
    id: 'stores-admission',
    title: 'Stores: one admission (attempts, consume, capped insert), admits per second',
    columns: [
      { title: 'store', unit: 'text' },
      { title: 'callers', unit: 'text' },
      { title: 'composed calls/s', unit: 'int' },
      { title: 'one-trip admit/s', unit: 'int' },
      { title: 'one-trip vs composed (same run)', unit: 'ratio' },
      { title: 'batched admitMany, admits/s', unit: 'int' },
      { title: 'batched vs one-trip (same run)', unit: 'ratio' },
    ],
    rows,
    notes: [
      `Admissions per measurement: ${STORE_KINDS.map((kind) => `${kind} ${scale.stores.ops[kind]}`).join(', ')}; ${scale.runs} runs, each on a fresh key prefix / schema. Composed: the IP hit, the user hit, the consume and the capped add, one after the other (as the warden runs them for stores without their own admit). One-trip: the store's \`admit\` (SQL: one call of the admission routine the migrations install; Redis: one Lua script). Caps per user, per IP and in total, as admission passes them; no refusals.`,
      "Batched: the same `admit` calls through the warden's batching (`AdmissionBatcher`) in front of the store's `admitMany`: the admissions of one loop turn, and those that arrive while 2 calls are out, go in one call (at most the store's `admitManyLimit`). With 1 caller every call holds one admission and waits one loop turn; with 32 callers calls fill.",
      'A store without its own `admit` has no one-trip figure; one without `admitMany` no batched one.',
      `redis-cluster: a 3-master Redis Cluster the benchmark starts on 127.0.0.1 (redis-server children, no replicas; ${withCluster ? 'measured' : 'not measured: no redis-server/redis-cli or no Redis'}), the stores from \`createRedisStores({ cluster })\` (16 buckets). Its one-trip figure is two scripts sent at once (the user's bucket: the user's attempts, the consume, the insert under the user cap; the caps slot: the IP's attempts, the IP/total reserve); composed is the hit, hit, consume and the two-phase sharded add (reserve, then insert): five sequential round trips.`,
      ...(errors.length > 0 ? [`**Errors**: ${[...new Set(errors)].slice(0, 5).join('; ')}`] : []),
    ],
  }
  return { tables: [table], targets: [] }
}
