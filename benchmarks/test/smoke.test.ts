/**
 * A tiny run of every benchmark (a handful of connections and operations), so the scripts never
 * rot. No timing assertion: only the shape of each table and that its figures are numbers.
 */
import type { Test } from 'tap'
import t from 'tap'
import type { BenchContext } from '../src/harness.js'
import { SMOKE } from '../src/scale.js'
import type { StoreKind } from '../src/services.js'
import { serviceVersions } from '../src/services.js'
import { isSummary } from '../src/table.js'
import type { BenchResult, Cell, Table } from '../src/table.js'
import type { BenchName } from '../src/suite.js'
import { BENCH_NAMES, BENCHMARKS, renderResults } from '../src/suite.js'
import { machineFacts } from '../src/machine.js'
import { renderTable } from '../src/table.js'

const services = await serviceVersions()
const stores: StoreKind[] = [
  'memory',
  ...(['redis', 'postgres', 'mysql'] as const).filter((kind) => services[kind] !== undefined),
]
const context: BenchContext = { scale: { ...SMOKE, runs: 1 }, stores, log: () => undefined }

/** Rows each table must have at smoke scale. */
const expectedRows: Record<string, number> = {
  'stores-throughput': 12,
  'stores-latency': 12,
  'stores-sweep': 4,
  'stores-admission': 10,
  verify: 4,
  admission: 21,
  closes: 2 * (stores.length - 1),
  broadcast: SMOKE.broadcast.clients.length * 2 * 3,
  across: 5,
  'across-broker': 5,
  memory: 10,
  'heartbeat-cpu': 3,
  flood: 2,
}

/** Columns whose summaries are rates, times or ratios: strictly positive when measured. */
const positive = (title: string): boolean => /\/s|ms|vs |ratio/.test(title)

function checkTable(t: Test, table: Table): void {
  t.equal(table.rows.length, expectedRows[table.id], `${table.id}: row count`)
  for (const row of table.rows) {
    t.equal(row.length, table.columns.length, `${table.id}: one cell per column`)
    row.forEach((cell: Cell, i) => {
      const column = table.columns[i]
      if (!column || cell === null || typeof cell === 'string') return
      const value = typeof cell === 'number' ? cell : cell.median
      t.ok(Number.isFinite(value), `${table.id} / ${column.title}: finite (${String(value)})`)
      if (isSummary(cell) && positive(column.title))
        t.ok(cell.median > 0, `${table.id} / ${column.title}: positive`)
    })
  }
  t.match(renderTable(table), /^### .+\n\n\|.+\|\n\|[-:|]+\|\n/, `${table.id}: renders as markdown`)
}

const results = new Map<BenchName, BenchResult>()
for (const name of BENCH_NAMES) {
  await t.test(name, async (t) => {
    const result = await BENCHMARKS[name](context)
    results.set(name, result)
    t.ok(result.tables.length > 0, 'has tables')
    for (const table of result.tables) checkTable(t, table)
    for (const target of result.targets) t.type(target.measured, 'string')
  })
}

t.test('RESULTS.md renders every section', async (t) => {
  const markdown = renderResults({
    outcomes: BENCH_NAMES.map((name) => {
      const result = results.get(name)
      return result ? { name, result, seconds: 1 } : { name, error: 'did not run', seconds: 0 }
    }),
    facts: machineFacts(services, '1024'),
    loadAfter: [0, 0, 0],
    scale: context.scale,
    date: new Date(),
    totalSeconds: 1,
    notes: [],
  })
  for (const name of BENCH_NAMES) t.match(markdown, `## ${name}`)
  t.match(markdown, /## Targets/)
  t.match(markdown, /Node v\d+/)
})
