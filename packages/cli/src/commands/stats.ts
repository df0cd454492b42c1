/**
 * `ws-warden stats`: the cluster's connections, users and connections per channel, read from
 * the session store, as text or JSON.
 *
 * @module
 */
import type { SessionStats } from '@ws-warden/core/stores'
import { parseOptions, storeOptions } from '../args.js'
import { CliError, messageOf } from '../errors.js'
import { scrub } from '../store-url.js'
import { openStore, remedyFor } from '../stores/index.js'
import { STORE_HELP, storeArguments, table, type Command, type CommandContext } from './context.js'

/** What `ws-warden stats --json` prints: the cluster's counts, as every instance sees them. */
export interface StatsReport extends SessionStats {
  /** The store URL, password redacted. */
  readonly store: string
}

const spec = { ...storeOptions, json: { type: 'boolean' } } as const

/** `ws-warden stats`: connections, users and connections per channel, cluster-wide. */
export const stats: Command = {
  name: 'stats',
  summary: 'connections, users and connections per channel, across every instance',
  help: `Usage: ws-warden stats --store <url> [options]

Prints the cluster's counts from the session store: connections, distinct users, and
connections per channel (busiest first). A memory: store is this process's own, so empty.

Output:
  --json                 print one JSON object: {store, connections, users, channels}, where
                         channels maps a channel name to its connections

${STORE_HELP}

Example:
  ws-warden stats --json --store redis://127.0.0.1:6379
`,
  run: runStats,
}

async function runStats(args: string[], context: CommandContext): Promise<number> {
  const values = parseOptions('stats', spec, args)
  const { raw, options } = storeArguments('stats', values, context)
  const store = await openStore(raw, options)
  context.secrets.push(...store.url.secrets)
  let counts: SessionStats
  try {
    counts = await store.sessions.stats()
  } catch (error) {
    const reason = scrub(messageOf(error), store.url.secrets)
    throw new CliError(`reading stats failed: ${reason}${remedyFor(error)}`, undefined, {
      cause: error,
    })
  } finally {
    await store.close()
  }
  const report: StatsReport = { store: store.url.redacted, ...counts }
  context.stdout.write(values.json === true ? `${JSON.stringify(report)}\n` : text(report))
  return 0
}

function text(report: StatsReport): string {
  const channels = Object.entries(report.channels).sort(
    // Busiest first, then by name (names are distinct).
    ([a, m], [b, n]) => n - m || (a < b ? -1 : 1),
  )
  const rows: [string, string][] = [
    ['connections', String(report.connections)],
    ['users', String(report.users)],
    ['channels', String(channels.length)],
    // A channel name is whatever a client joined: quoted when it could break the layout.
    ...channels.map(([name, n]): [string, string] => [`  ${printable(name)}`, String(n)]),
  ]
  return `${report.store}\n${table(rows)}`
}

/** `name` as is when it is plain, else JSON-quoted (control characters, spaces, empty). */
function printable(name: string): string {
  return /^[\x21-\x7e\u00a0-\uffff]+$/.test(name) ? name : JSON.stringify(name)
}
