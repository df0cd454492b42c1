/**
 * `ws-warden migrate`: brings a PostgreSQL or MySQL/MariaDB store's tables up to the current
 * schema version and reports the versions it applied.
 *
 * @module
 */
import type * as Sql from '@ws-warden/sql'
import { parseOptions, storeOptions } from '../args.js'
import { CliError, UsageError, messageOf } from '../errors.js'
import { parseStoreUrl, scrub } from '../store-url.js'
import { checkSchema } from '../stores/index.js'
import { importOptional } from '../stores/load.js'
import { connectSql } from '../stores/sql.js'
import { STORE_HELP, storeArguments, type Command, type CommandContext } from './context.js'

type SqlPackage = typeof Sql

/** What `ws-warden migrate --json` prints. */
export interface MigrateReport {
  /** The store URL, password redacted. */
  readonly store: string
  /** The versions this run applied, oldest first; empty when already up to date. */
  readonly applied: number[]
  /** The schema version afterwards. */
  readonly version: number
}

const spec = { ...storeOptions, json: { type: 'boolean' } } as const

/** `ws-warden migrate`: creates or upgrades the SQL stores' tables. */
export const migrate: Command = {
  name: 'migrate',
  summary: 'create or upgrade the tables of the SQL stores (PostgreSQL, MySQL, MariaDB)',
  help: `Usage: ws-warden migrate --store <postgres://...|mysql://...> [options]

Creates or upgrades the tables of @ws-warden/sql for --prefix (and, on PostgreSQL, --schema,
created if missing). Idempotent, and safe to run from several places at once (they take turns
under a lock). Redis and memory: stores need no migration.

Output:
  --json                 print one JSON object: {store, applied, version}

${STORE_HELP}

Example:
  ws-warden migrate --store postgres://app@db.internal/app --schema realtime
`,
  run: runMigrate,
}

async function runMigrate(args: string[], context: CommandContext): Promise<number> {
  const values = parseOptions('migrate', spec, args)
  const { raw, options } = storeArguments('migrate', values, context)
  const url = parseStoreUrl(raw, 'migrate')
  context.secrets.push(...url.secrets)
  if (url.kind !== 'postgres' && url.kind !== 'mysql') {
    throw new UsageError(
      `migrate is for SQL stores (postgres://, mysql://, mariadb://); ${url.kind} needs no migration`,
      'migrate',
    )
  }
  checkSchema(url, options)
  const sql = await importOptional<SqlPackage>('@ws-warden/sql')
  const connection = await connectSql(url, options)
  let result: { applied: number[]; version: number }
  try {
    const { prefix, schema, timeoutMs } = options
    result = await sql.migrate({ pool: connection.pool, prefix, schema, timeoutMs })
  } catch (error) {
    const reason = scrub(messageOf(error), url.secrets)
    if (error instanceof TypeError) throw new UsageError(`bad store option: ${reason}`, 'migrate')
    throw new CliError(`migration failed: ${reason}`, undefined, { cause: error })
  } finally {
    await connection.end()
  }
  const report: MigrateReport = { store: url.redacted, ...result }
  context.stdout.write(
    values.json === true
      ? `${JSON.stringify(report)}\n`
      : report.applied.length === 0
        ? `${report.store}: already at version ${report.version}\n`
        : `${report.store}: applied ${report.applied.join(', ')}; now at version ${report.version}\n`,
  )
  return 0
}
