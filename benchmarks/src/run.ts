/**
 * `pnpm bench`: runs every benchmark (or `--only a,b`) at full scale (or `--smoke`), prints one
 * markdown table per benchmark and writes RESULTS.md (unless `--no-write`).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import type { BenchContext } from './harness.js'
import { machineFacts } from './machine.js'
import type { Scale } from './scale.js'
import { FULL, SMOKE } from './scale.js'
import type { StoreKind } from './services.js'
import { serviceVersions } from './services.js'
import type { BenchName } from './suite.js'
import { BENCH_NAMES, renderResults, runSuite } from './suite.js'
import { renderTable } from './table.js'

const { values } = parseArgs({
  // `pnpm bench -- --only x` may pass the `--` through.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    only: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    runs: { type: 'string' },
    stores: { type: 'string' },
    out: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
  allowPositionals: true,
})

const base = values.smoke ? SMOKE : FULL
const scale: Scale =
  values.runs === undefined ? base : { ...base, runs: Math.max(1, Number(values.runs)) }
const names = (values.only?.split(',').map((name) => name.trim()) ?? BENCH_NAMES) as BenchName[]
const unknown = names.filter((name) => !BENCH_NAMES.includes(name))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCH_NAMES.join(', ')}`)
  process.exit(2)
}

// 10,000 connections need ~10,000 descriptors in the server and as many in the client
// processes: raise the soft limit up to the hard one by re-running under `ulimit -n`.
const shell = (command: string): string =>
  execFileSync('sh', ['-c', command], { encoding: 'utf8' }).trim()
const soft = shell('ulimit -n')
const needed = scale.memory.baseConnections + scale.memory.connections + 2_000
if (soft !== 'unlimited' && Number(soft) < needed && process.env.WSW_BENCH_ULIMIT === undefined) {
  const hard = shell('ulimit -Hn')
  const target = hard === 'unlimited' ? 65_536 : Math.min(Number(hard), 65_536)
  console.error(`raising the open files limit from ${soft} to ${target}`)
  const rerun = spawnSync(
    'sh',
    [
      '-c',
      `ulimit -n ${target} && exec "$0" "$@"`,
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, WSW_BENCH_ULIMIT: String(target) } },
  )
  process.exit(rerun.status ?? 1)
}

const started = performance.now()
const services = await serviceVersions()
// `--stores redis,postgres` measures only those (memory, the raw ws baseline's store, stays).
const wanted = values.stores?.split(',').map((name) => name.trim())
const stores: StoreKind[] = [
  'memory',
  ...(['redis', 'postgres', 'mysql'] as const).filter(
    (kind) => services[kind] !== undefined && (wanted === undefined || wanted.includes(kind)),
  ),
]
const facts = machineFacts(services, shell('ulimit -n'))
const context: BenchContext = { scale, stores, log: (line) => console.error(`[bench] ${line}`) }
context.log(
  `scale ${scale.name}, runs ${scale.runs}, stores ${stores.join(', ')}, load ${facts.load.map((v) => v.toFixed(2)).join(' ')}`,
)

const outcomes = await runSuite(names, context)
for (const outcome of outcomes) {
  for (const table of outcome.result?.tables ?? []) console.log(`${renderTable(table)}\n`)
}
const loadAfter = loadavg()
const busy = Math.max(facts.load[0] ?? 0, loadAfter[0] ?? 0) > facts.cores * 0.5
const notes = [
  ...(busy
    ? [
        `The machine was busy with other work (load average above ${facts.cores * 0.5} before or after): absolute figures are low and noisy; the same-run ratios are the figures to read.`,
      ]
    : []),
  ...(names.length < BENCH_NAMES.length ? [`Subset run: ${names.join(', ')}.`] : []),
  ...outcomes.map(
    (outcome) =>
      `${outcome.name}: ${outcome.seconds.toFixed(0)} s${outcome.error ? ' (failed)' : ''}`,
  ),
]
const totalSeconds = (performance.now() - started) / 1000
if (!values['no-write']) {
  const out = values.out ?? (values.smoke ? 'RESULTS.smoke.md' : 'RESULTS.md')
  writeFileSync(
    out,
    renderResults({ outcomes, facts, loadAfter, scale, date: new Date(), totalSeconds, notes }),
  )
  context.log(`wrote ${out} (${totalSeconds.toFixed(0)} s)`)
}
process.exit(outcomes.some((outcome) => outcome.error !== undefined) ? 1 : 0)
