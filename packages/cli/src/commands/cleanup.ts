/**
 * `ws-warden cleanup`: removes stale sessions, expired token ids and ended rate-limit windows
 * from a store (or, with `--dry-run`, counts them), and reports what it did as text or JSON.
 *
 * @module
 */
import type { RateLimitStore, SessionStore, TokenStore } from '@ws-warden/core/stores'
import { formatDuration, parseDuration, parseOptions, storeOptions } from '../args.js'
import { CliError, UsageError, messageOf } from '../errors.js'
import { scrub } from '../store-url.js'
import { openStore, remedyFor, type OpenedStore } from '../stores/index.js'
import { STORE_HELP, storeArguments, table, type Command, type CommandContext } from './context.js'

/** The kinds of record `cleanup` removes, by their name in reports. */
export type CleanupKind = 'sessions' | 'tokens' | 'rateLimits'

/** What `ws-warden cleanup --json` prints: one object on one line. */
export interface CleanupReport {
  /** The store URL, password redacted. */
  readonly store: string
  /** True when nothing was removed and the counts are what a cleanup would remove. */
  readonly dryRun: boolean
  /** Records removed (or, in a dry run, that would be); `null` for a kind not cleaned. */
  readonly sessions: number | null
  readonly tokens: number | null
  readonly rateLimits: number | null
  /** The age used per kind, in ms; `null` for a kind not cleaned. */
  readonly agesMs: Readonly<Record<CleanupKind, number | null>>
  readonly durationMs: number
}

interface KindSpec {
  readonly kind: CleanupKind
  /** The flag that selects it, and the one that sets its age. */
  readonly flag: string
  readonly ageFlag: string
  readonly defaultMs: number
  /** How the text report describes what was removed. */
  readonly describe: (age: string) => string
}

const KINDS: readonly KindSpec[] = [
  {
    kind: 'sessions',
    flag: 'sessions',
    ageFlag: 'session-age',
    defaultMs: 75_000,
    describe: (age) => `not seen for ${age}`,
  },
  {
    kind: 'tokens',
    flag: 'tokens',
    ageFlag: 'token-age',
    defaultMs: 300_000,
    describe: (age) => `expired over ${age} ago`,
  },
  {
    kind: 'rateLimits',
    flag: 'rate-limits',
    ageFlag: 'rate-limit-age',
    defaultMs: 7 * 86_400_000,
    describe: (age) => `ended over ${age} ago`,
  },
]

const spec = {
  ...storeOptions,
  sessions: { type: 'boolean' },
  tokens: { type: 'boolean' },
  'rate-limits': { type: 'boolean' },
  'session-age': { type: 'string' },
  'token-age': { type: 'string' },
  'rate-limit-age': { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const

type Store = SessionStore | TokenStore | RateLimitStore

/** `ws-warden cleanup`: the sweep of `warden.sweep()`, from outside the servers. */
export const cleanup: Command = {
  name: 'cleanup',
  summary: 'remove stale sessions, used token ids and ended rate-limit windows',
  help: `Usage: ws-warden cleanup --store <url> [options]

Removes stale records: sessions not seen for --session-age (connections that ended without a
clean close, and every connection of a crashed instance), used token ids that expired
--token-age ago, and rate-limit windows that ended --rate-limit-age ago. With no kind flag,
all three. What the in-process sweeper does, for a cron job.

Kinds (combine them; none means all):
  --sessions               session records
  --tokens                 used token ids
  --rate-limits            rate-limit windows

Ages (whole seconds, or with a unit: 1500ms, 300s, 5m, 12h, 7d):
  --session-age <age>      default 75s: 3 intervals of the default 25s heartbeat. Keep it well
                           above your heartbeat interval, or live connections lose their record
  --token-age <age>        default 300 (5 minutes past the token's expiry)
  --rate-limit-age <age>   default 7d (note: a plain 7 is 7 seconds, not days)

Output:
  --dry-run                count what would be removed, remove nothing
  --json                   print one JSON object: {store, dryRun, sessions, tokens, rateLimits,
                           agesMs, durationMs}; a kind not cleaned is null

${STORE_HELP}

Examples:
  ws-warden cleanup --store redis://127.0.0.1:6379
  ws-warden cleanup --tokens --rate-limits --token-age 300 --rate-limit-age 7d
  ws-warden cleanup --dry-run --json --store postgres://app@db.internal/app
`,
  run: runCleanup,
}

async function runCleanup(args: string[], context: CommandContext): Promise<number> {
  const values = parseOptions('cleanup', spec, args)
  const plan = planCleanup(values)
  const { raw, options } = storeArguments('cleanup', values, context)
  const dryRun = values['dry-run'] === true
  const store = await openStore(raw, options)
  context.secrets.push(...store.url.secrets)
  let counts: Map<CleanupKind, number>
  const started = Date.now()
  try {
    counts = await sweep(store, plan, started, dryRun)
  } finally {
    await store.close()
  }
  const report = reportOf(store, plan, counts, dryRun, Date.now() - started)
  context.stdout.write(values.json === true ? `${JSON.stringify(report)}\n` : text(report, plan))
  return 0
}

/** The kinds to clean and their ages, from the flags. */
function planCleanup(
  values: Record<string, string | boolean | undefined>,
): Map<CleanupKind, number> {
  const all = KINDS.every((spec) => values[spec.flag] !== true)
  const plan = new Map<CleanupKind, number>()
  for (const spec of KINDS) {
    const age = values[spec.ageFlag] as string | undefined
    if (!all && values[spec.flag] !== true) {
      if (age !== undefined) {
        throw new UsageError(
          `--${spec.ageFlag} is given but ${spec.flag} are not cleaned (add --${spec.flag})`,
          'cleanup',
        )
      }
      continue
    }
    const ms =
      age === undefined ? spec.defaultMs : parseDuration(`--${spec.ageFlag}`, age, 'cleanup')
    plan.set(spec.kind, ms)
  }
  return plan
}

/** Sweeps (or counts) every planned kind at once; the first failure, if any, is the error. */
async function sweep(
  store: OpenedStore,
  plan: Map<CleanupKind, number>,
  now: number,
  dryRun: boolean,
): Promise<Map<CleanupKind, number>> {
  const stores: Record<CleanupKind, Store> = store
  const runs = new Map<CleanupKind, (before: number) => Promise<number>>()
  for (const kind of plan.keys()) {
    const target = stores[kind]
    const run = dryRun ? target.countSweepable?.bind(target) : target.sweep.bind(target)
    if (run === undefined) {
      throw new CliError(
        `--dry-run is not supported by this store's ${label(kind)} (no countSweepable); nothing was removed`,
      )
    }
    runs.set(kind, run)
  }
  const results = await Promise.allSettled(
    [...runs].map(
      async ([kind, run]) => [kind, await run(now - (plan.get(kind) as number))] as const,
    ),
  )
  const counts = new Map<CleanupKind, number>()
  for (const [index, result] of results.entries()) {
    if (result.status === 'fulfilled') counts.set(...result.value)
    else {
      const kind = [...plan.keys()][index] as CleanupKind
      const reason = scrub(messageOf(result.reason), store.url.secrets)
      throw new CliError(`${label(kind)} failed: ${reason}${remedyFor(result.reason)}`, undefined, {
        cause: result.reason,
      })
    }
  }
  return counts
}

function reportOf(
  store: OpenedStore,
  plan: Map<CleanupKind, number>,
  counts: Map<CleanupKind, number>,
  dryRun: boolean,
  durationMs: number,
): CleanupReport {
  const count = (kind: CleanupKind) => counts.get(kind) ?? null
  const age = (kind: CleanupKind) => plan.get(kind) ?? null
  return {
    store: store.url.redacted,
    dryRun,
    sessions: count('sessions'),
    tokens: count('tokens'),
    rateLimits: count('rateLimits'),
    agesMs: { sessions: age('sessions'), tokens: age('tokens'), rateLimits: age('rateLimits') },
    durationMs,
  }
}

function text(report: CleanupReport, plan: Map<CleanupKind, number>): string {
  const rows: [string, string][] = []
  let total = 0
  for (const spec of KINDS) {
    const ageMs = plan.get(spec.kind)
    if (ageMs === undefined) continue
    const count = report[spec.kind] as number
    total += count
    rows.push([label(spec.kind), `${count}  ${spec.describe(formatDuration(ageMs))}`])
  }
  const summary = report.dryRun
    ? `dry run: would remove ${total} records from ${report.store}; nothing was removed`
    : `removed ${total} records from ${report.store} in ${report.durationMs} ms`
  return `${table(rows)}${summary}\n`
}

function label(kind: CleanupKind): string {
  return kind === 'rateLimits' ? 'rate-limits' : kind
}
