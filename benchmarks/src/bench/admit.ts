/**
 * Benchmark: one store-level admission (`AdmissionStore.admit`: IP and user attempts, token
 * consume, capped session insert), the store's own one-round-trip `admit` against the same
 * three calls composed (`ComposedAdmission`), in the same run on the same tables.
 */
import type { AdmitRequest, SessionRecord } from '@ws-warden/core/stores'
import { ComposedAdmission } from '@ws-warden/core/stores'
import type { BenchContext } from '../harness.js'
import { openStores } from '../open-stores.js'
import type { StoreKind } from '../services.js'
import { cleanup, STORE_KINDS, uniqueName } from '../services.js'
import { ratios, summarize } from '../stats.js'
import type { BenchResult, Cell, Table } from '../table.js'
import { measureOps } from './stores.js'

const CALLERS = [1, 32] as const
const CAPS = { perUser: 1_000_000, perIp: 1_000_000, total: 10_000_000 }
const WAYS = ['composed', 'native'] as const

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
    jti: `${tag}j${i}`,
    tokenExpiresAt: now + 600_000,
    session: { record, caps: CAPS },
  }
}

export async function admitBench(context: BenchContext): Promise<BenchResult> {
  const { scale, log } = context
  const kinds = STORE_KINDS.filter((kind) => context.stores.includes(kind))
  /** ops/s per `${kind}:${way}:${callers}`, one value per run. */
  const rates = new Map<string, number[]>()
  const errors: string[] = []
  for (let run = 0; run < scale.runs; run++) {
    for (const kind of kinds) {
      const name = uniqueName(`a${kind.slice(0, 2)}`)
      const stores = await openStores(kind, name)
      try {
        const composed = new ComposedAdmission(stores)
        for (const callers of CALLERS) {
          // Alternate which goes first, so that neither always meets the emptier tables.
          const ways = run % 2 === 0 ? WAYS : [...WAYS].reverse()
          for (const way of ways) {
            const admission = way === 'composed' ? composed : stores.admission
            if (admission === undefined) continue
            const tag = `r${run}c${callers}${way[0]}`
            const now = Date.now()
            const figures = await measureOps(scale.stores.ops[kind], callers, (i) =>
              admission.admit(request(tag, i, now)).then((answer) => {
                if (!answer.ok) throw new Error(`refused: ${JSON.stringify(answer)}`)
              }),
            )
            if (figures.firstError !== undefined)
              errors.push(`${kind} ${way}: ${figures.firstError}`)
            const key = `${kind}:${way}:${callers}`
            rates.set(key, [...(rates.get(key) ?? []), figures.opsPerSec])
          }
        }
        log(`admit: run ${run + 1} ${kind} done`)
      } finally {
        await stores.close().catch(() => undefined)
        await cleanup(kind, name).catch(() => undefined)
      }
    }
  }
  const cell = (values: number[] | undefined): Cell => (values ? summarize(values) : null)
  const rows = STORE_KINDS.flatMap((kind: StoreKind) =>
    CALLERS.map((callers): Cell[] => {
      const composed = rates.get(`${kind}:composed:${callers}`)
      const native = rates.get(`${kind}:native:${callers}`)
      return [
        kind,
        String(callers),
        cell(composed),
        cell(native),
        composed && native ? summarize(ratios(native, composed)) : null,
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
    ],
    rows,
    notes: [
      `Admissions per measurement: ${STORE_KINDS.map((kind) => `${kind} ${scale.stores.ops[kind]}`).join(', ')}; ${scale.runs} runs, each on a fresh key prefix / schema. Composed: the IP hit, the user hit, the consume and the capped add, one after the other (as the warden runs them for stores without their own admit). One-trip: the store's \`admit\` (SQL: one call of the routine that migration 3 installs; Redis: one Lua script). Caps per user, per IP and in total, as admission passes them; no refusals.`,
      'A store without its own `admit` has no one-trip figure.',
      ...(errors.length > 0 ? [`**Errors**: ${[...new Set(errors)].slice(0, 5).join('; ')}`] : []),
    ],
  }
  return { tables: [table], targets: [] }
}
