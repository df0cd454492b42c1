/**
 * Measures SqlAdmissionStore.admit as the warden calls it: two attempt counters (IP, user), a
 * distinct token and session each, caps per user, per IP and in total. A fresh schema/prefix per
 * measurement, a pool of 8, 1 and 32 callers, the variants alternated A/B then B/A. Besides
 * admits/s it reports what the server did: PostgreSQL the CPU time of the pool's backends and of
 * the WAL writer (/proc, so the database must run on this machine), the routine's own time
 * (pg_stat_user_functions), WAL bytes, records, full-page images and syncs per admit
 * (cluster-wide: they include anyone else's writes); MySQL the CPU time of all of mysqld, the
 * pool's session counters (handler calls, statements) summed over its connections, and redo
 * written and fsyncs per admit (global). Wall-clock figures on a shared machine are noise: read
 * the server-side ones.
 *
 * Not part of the tests or the build. Run from packages/sql:
 *   node <tsx>/dist/cli.mjs scripts/measure-admit.ts <postgres|mysql> [n=3000] [caps=tight|loose]
 *     [rounds=2] [store options as JSON]
 * Environment: VARIANTS (default `current,off`: this routine flushed and with
 * admissionSynchronousCommit 'off'; `git:<ref>` installs the routines of that commit instead;
 * `many`: admitMany through the warden's AdmissionBatcher, each caller one handshake in flight;
 * `many:git:<ref>`: the same over the routines of that commit),
 * CALLERS (default `1,32`), PATTERN (`grouped`, the default: a user's 4 and an IP's 40
 * admissions one after the other, so concurrent ones share cap locks; `spread`: scattered).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { AdmissionBatcher, type AdmissionStore, type AdmitRequest } from '@ws-warden/core/stores'
import { createSqlStores, migrate } from '../src/index.js'
import { resolve, type Tables } from '../src/options.js'

interface RoutineSource {
  postgresAdmit(t: Tables): string
  mysqlAdmit(t: Tables): string[]
}
interface BatchRoutineSource {
  postgresAdmitMany(t: Tables): string
  mysqlAdmitMany(t: Tables): string[]
}

/** The routines of each commit asked for, read out of git once per run. */
const sources = new Map<string, Promise<[RoutineSource, BatchRoutineSource | undefined]>>()

/** The admission routines' source of commit `ref`: `admit`'s, and `admit_many`'s if it has one. */
function routinesOf(ref: string): Promise<[RoutineSource, BatchRoutineSource | undefined]> {
  let loading = sources.get(ref)
  if (loading === undefined) {
    // Both files in one directory: the batch routine imports the steps of the single one.
    const dir = mkdtempSync(join(tmpdir(), `wsw-admission-sql-${ref.replace(/\W/g, '_')}-`))
    const show = (name: string, required: boolean): boolean => {
      try {
        const source = execFileSync('git', ['show', `${ref}:packages/sql/src/${name}.ts`], {
          stdio: ['ignore', 'pipe', required ? 'inherit' : 'ignore'],
        })
        writeFileSync(join(dir, `${name}.ts`), source)
        return true
      } catch (error) {
        if (required) throw error
        return false
      }
    }
    show('admission-sql', true)
    const batched = show('admission-many-sql', false)
    loading = Promise.all([
      import(join(dir, 'admission-sql.ts')) as Promise<RoutineSource>,
      batched
        ? (import(join(dir, 'admission-many-sql.ts')) as Promise<BatchRoutineSource>)
        : undefined,
    ])
    sources.set(ref, loading)
  }
  return loading
}

/**
 * Puts the admission routines of commit `ref` in place of the ones `migrate` installed: `admit`,
 * and `admit_many` if that commit has it.
 */
async function installFrom(
  ref: string,
  options: { pool: unknown; schema?: string; prefix: string },
) {
  const [routine, batch] = await routinesOf(ref)
  const { db, tables } = resolve('measure', options as never)
  const postgres = db.dialect.name === 'postgres'
  const statements = postgres ? [routine.postgresAdmit(tables)] : routine.mysqlAdmit(tables)
  if (batch) {
    statements.push(
      ...(postgres ? [batch.postgresAdmitMany(tables)] : batch.mysqlAdmitMany(tables)),
    )
  }
  for (const statement of statements) await db.run(statement)
}
const VARIANTS = (process.env.VARIANTS ?? 'current,off').split(',')
/** `git:<ref>` and `many:git:<ref>` run the routines of `<ref>`. */
const git = (variant: string) => /^(?:many:)?git:(.+)$/.exec(variant)?.[1]
const batched = (variant: string) => variant === 'many' || variant.startsWith('many:')

const [dialect = 'postgres', nArg = '3000', capsArg = 'tight', roundsArg = '2', extra = '{}'] =
  process.argv.slice(2)
const N = Number(nArg)
const ROUNDS = Number(roundsArg)
// tight: the caps bind near what a deployment sets (counts run); loose: the benchmark's caps.
const CAPS =
  capsArg === 'tight'
    ? { perUser: 5, perIp: 50, total: 10_000_000 }
    : { perUser: 1_000_000, perIp: 1_000_000, total: 10_000_000 }

// grouped: a user's 4 and an IP's 40 admissions come one after the other (they meet under 32
// callers); spread: the same counts scattered over the run (concurrent ones rarely share a lock).
const SPREAD = process.env.PATTERN === 'spread'
function request(tag: string, i: number, now: number): AdmitRequest {
  const u = SPREAD ? (i * 7919) % Math.ceil(N / 4) : Math.floor(i / 4)
  const a = SPREAD ? (i * 104729) % Math.ceil(N / 40) : Math.floor(i / 40)
  const record = {
    id: `${tag}s${i}`,
    userId: `${tag}u${u}`,
    instanceId: 'bench',
    ip: `${tag}10.0.${a & 255}.${a >> 8}`,
    channels: [],
    connectedAt: now,
    lastSeenAt: now,
  }
  return {
    attempts: [
      { key: `connect:ip:${record.ip}`, limit: 1_000_000 },
      { key: `connect:user:${record.userId}`, limit: 1_000_000 },
    ],
    windowMs: 600_000,
    userId: record.userId,
    jti: `${tag}j${i}`,
    tokenExpiresAt: now + 600_000,
    session: { record, caps: CAPS },
  }
}

/**
 * How a variant admits: `admit` itself, or (`many`, `many:git:<ref>`) the warden's batching over
 * `admitMany`.
 */
function admitter(store: AdmissionStore, variant: string): AdmissionStore['admit'] {
  if (!batched(variant)) return (request) => store.admit(request)
  const many = store.admitMany?.bind(store)
  if (many === undefined) throw new Error('this store has no admitMany')
  const batcher = new AdmissionBatcher(many, store.admitManyLimit)
  return (request) => batcher.admit(request)
}

/** Node's own CPU time (user + system, µs) over `run`, per admission. */
async function nodeCpu<T>(n: number, run: () => Promise<T>): Promise<[T, number]> {
  const before = process.cpuUsage()
  const value = await run()
  const { user, system } = process.cpuUsage(before)
  return [value, (user + system) / n]
}

async function drive(n: number, callers: number, admit: (i: number) => Promise<void>) {
  let next = 0
  const started = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (let i = next++; i < n; i = next++) await admit(i)
    }),
  )
  return Number(process.hrtime.bigint() - started) / 1e9
}

/** CPU time (ms) that process `pid` has run (its main thread: a PostgreSQL backend). */
function cpuMs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6
  } catch {
    return 0
  }
}

interface Probe {
  before(): Promise<void>
  after(n: number): Promise<Record<string, number>>
  end(): Promise<void>
}

async function pgProbe(schema: string): Promise<Probe> {
  const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' })
  await admin.connect()
  let lsn = ''
  let fn = { calls: 0, total: 0, self: 0 }
  let wal = { syncs: 0, records: 0, fpi: 0 }
  let cpu = 0
  const pids = async () => {
    const { rows } = await admin.query(
      `SELECT pid FROM pg_stat_activity WHERE application_name = 'wsw_measure' OR backend_type = 'walwriter'`,
    )
    return rows.map((r) => Number(r.pid))
  }
  const backendCpu = async () => (await pids()).reduce((sum, pid) => sum + cpuMs(pid), 0)
  const fnStats = async () => {
    await admin.query('SELECT pg_stat_clear_snapshot()')
    const { rows } = await admin.query(
      `SELECT calls, total_time, self_time FROM pg_stat_user_functions WHERE schemaname = $1`,
      [schema],
    )
    // Both routines (admit and admit_many): only the one a variant calls moves.
    const sum = (k: string) => rows.reduce((total, r) => total + Number(r[k]), 0)
    return { calls: sum('calls'), total: sum('total_time'), self: sum('self_time') }
  }
  const walStats = async () => {
    const { rows } = await admin.query('SELECT wal_sync, wal_records, wal_fpi FROM pg_stat_wal')
    const r = rows[0]
    return { syncs: Number(r.wal_sync), records: Number(r.wal_records), fpi: Number(r.wal_fpi) }
  }
  return {
    async before() {
      // Starts each measurement on the same footing: no full-page images owed from before.
      await admin.query('CHECKPOINT')
      lsn = (await admin.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l
      fn = await fnStats()
      wal = await walStats()
      cpu = await backendCpu()
    },
    async after(n) {
      const { rows } = await admin.query('SELECT pg_current_wal_lsn() - $1::pg_lsn AS b', [lsn])
      const used = (await backendCpu()) - cpu
      // Stats reach shared memory when a backend goes idle, at most once a second; one that
      // reported less than a second ago reports again after 10 s idle (PGSTAT_IDLE_INTERVAL),
      // which a short run (admitMany's) would miss.
      await new Promise((r) => setTimeout(r, 11_000))
      const f = await fnStats()
      const w = await walStats()
      return {
        'server CPU ms/admit (backends + walwriter)': used / n,
        // Backends report these when idle, at most once a second: 'routine calls' tells how many.
        'routine ms/call': (f.total - fn.total) / Math.max(1, f.calls - fn.calls),
        'routine calls': f.calls - fn.calls,
        'WAL bytes/admit': Number(rows[0].b) / n,
        'WAL records/admit': (w.records - wal.records) / n,
        'WAL FPI/admit': (w.fpi - wal.fpi) / n,
        'WAL syncs/admit': (w.syncs - wal.syncs) / n,
      }
    },
    end: () => admin.end(),
  }
}

const MYSQL_COUNTERS = [
  'Handler_read_key',
  'Handler_read_next',
  'Handler_write',
  'Handler_update',
  'Handler_delete',
  'Handler_commit',
  'Innodb_rows_read',
  'Innodb_rows_inserted',
  'Innodb_rows_updated',
  'Innodb_rows_deleted',
  'Questions',
  'Queries',
]

async function mysqlProbe(pool: mysql.Pool): Promise<Probe> {
  const admin = await mysql.createConnection({ uri: 'mysql://root@127.0.0.1:3306/test' })
  const sessionTotals = async () => {
    // Every connection of the pool at once, so that each is asked once.
    const connections = await Promise.all(Array.from({ length: 8 }, () => pool.getConnection()))
    const totals = new Map<string, number>()
    for (const c of connections) {
      const [rows] = await c.query('SHOW SESSION STATUS')
      for (const { Variable_name: k, Value: v } of rows as {
        Variable_name: string
        Value: string
      }[])
        totals.set(k, (totals.get(k) ?? 0) + Number(v))
    }
    for (const c of connections) c.release()
    return totals
  }
  const global = async () => {
    const [rows] = await admin.query(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_os_log_fsyncs', 'Innodb_os_log_written', 'Innodb_data_fsyncs')",
    )
    return new Map(
      (rows as { Variable_name: string; Value: string }[]).map((r) => [
        r.Variable_name,
        Number(r.Value),
      ]),
    )
  }
  let s = new Map<string, number>()
  let g = new Map<string, number>()
  let cpu = 0
  const mysqld = Number(readFileSync('/run/mysqld/mysqld.pid', 'utf8'))
  const processCpu = () => {
    const stat = readFileSync(`/proc/${mysqld}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return ((Number(stat[11]) + Number(stat[12])) * 1000) / 100
  }
  return {
    async before() {
      s = await sessionTotals()
      g = await global()
      cpu = processCpu()
    },
    async after(n) {
      const used = processCpu() - cpu
      const s2 = await sessionTotals()
      const g2 = await global()
      const out: Record<string, number> = { 'mysqld CPU ms/admit (whole server)': used / n }
      // The probe's own SHOW STATUS (8 statements) is in Questions: negligible over n.
      for (const k of MYSQL_COUNTERS) out[`${k}/admit`] = ((s2.get(k) ?? 0) - (s.get(k) ?? 0)) / n
      for (const k of g2.keys())
        out[`${k}/admit (global)`] = ((g2.get(k) ?? 0) - (g.get(k) ?? 0)) / n
      return out
    },
    end: () => admin.end(),
  }
}

async function measure(callers: number, round: number, variant: string) {
  const tag = `m${round}c${callers}${variant.replace(/\W/g, '')}`
  const options = {
    ...(JSON.parse(extra) as Record<string, unknown>),
    ...(variant === 'off' && { admissionSynchronousCommit: 'off' as const }),
  }
  if (dialect === 'postgres') {
    const schema = `wsw_measure_${process.pid}_${tag}`
    const pool = new pg.Pool({
      connectionString: 'postgres://postgres@127.0.0.1:5432/test',
      max: 8,
      options: '-c track_functions=all',
      application_name: 'wsw_measure',
    })
    pool.on('error', () => {})
    try {
      await migrate({ pool, schema, prefix: 'w_' })
      const ref = git(variant)
      if (ref !== undefined) await installFrom(ref, { pool, schema, prefix: 'w_' })
      const stores = createSqlStores({ pool, schema, prefix: 'w_', ...options })
      const admit = admitter(stores.admission!, variant)
      const probe = await pgProbe(schema)
      const now = Date.now()
      // Warm: every pooled connection prepares the call.
      await drive(64, 8, (i) => admit(request('warm', i, now)).then(() => {}))
      await probe.before()
      const [seconds, node] = await nodeCpu(N, () =>
        drive(N, callers, async (i) => {
          const a = await admit(request(tag, i, now))
          if (!a.ok) throw new Error(`refused: ${JSON.stringify(a)}`)
        }),
      )
      const figures = await probe.after(N)
      await probe.end()
      return { 'admits/s': N / seconds, 'Node CPU us/admit': node, ...figures }
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await pool.end()
    }
  }
  const prefix = `wm${process.pid}${tag}_`
  const pool = mysql.createPool({ uri: 'mysql://root@127.0.0.1:3306/test', connectionLimit: 8 })
  try {
    await migrate({ pool, prefix })
    const ref = git(variant)
    if (ref !== undefined) await installFrom(ref, { pool, prefix })
    const stores = createSqlStores({ pool, prefix, ...options })
    const admit = admitter(stores.admission!, variant)
    const probe = await mysqlProbe(pool)
    const now = Date.now()
    await drive(64, 8, (i) => admit(request('warm', i, now)).then(() => {}))
    await probe.before()
    const [seconds, node] = await nodeCpu(N, () =>
      drive(N, callers, async (i) => {
        const a = await admit(request(tag, i, now))
        if (!a.ok) throw new Error(`refused: ${JSON.stringify(a)}`)
      }),
    )
    const figures = await probe.after(N)
    await probe.end()
    return { 'admits/s': N / seconds, 'Node CPU us/admit': node, ...figures }
  } finally {
    const names = ['session_channels', 'sessions', 'tokens', 'rate_limits', 'locks', 'counters']
    await pool.query(
      `DROP TABLE IF EXISTS ${[...names, 'streams', 'history', 'resumes', 'migrations'].map((t) => `\`${prefix}${t}\``).join(', ')}`,
    )
    await pool.query(`DROP PROCEDURE IF EXISTS \`${prefix}admit\``)
    await pool.query(`DROP PROCEDURE IF EXISTS \`${prefix}admit_many\``)
    await pool.end()
  }
}

for (let round = 0; round < ROUNDS; round++) {
  for (const callers of (process.env.CALLERS ?? '1,32').split(',').map(Number)) {
    // A/B, then B/A in the next round: neither always goes first.
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()
    for (const variant of order) {
      const figures = await measure(callers, round, variant)
      const shown = Object.entries(figures).map(([k, v]) => `${k}=${Number(v.toFixed(3))}`)
      const label = `${dialect} ${variant} ${capsArg} callers=${callers} round=${round}`
      process.stdout.write(`${label}: ${shown.join(' ')}\n`)
    }
  }
}
