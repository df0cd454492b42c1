import t, { type Test } from 'tap'
import { createSqlStores, migrations } from '@ws-warden/sql'
import type { CleanupReport, MigrateReport, StatsReport } from '../src/index.js'
import { run } from './helpers/run.js'
import {
  MYSQL_URL,
  PG_URL,
  blackHole,
  closedPort,
  randomName,
  reachable,
  withPort,
} from './helpers/services.js'
import { TABLES, admin } from './helpers/sql.js'

const MINUTE = 60_000
const DAY = 86_400_000

for (const kind of ['postgres', 'mysql'] as const) {
  const baseUrl = kind === 'postgres' ? PG_URL : MYSQL_URL

  t.test(kind, async (t) => {
    const db = await admin(kind)
    t.teardown(() => db.end())
    if (!(await reachable(t, `${kind} at ${baseUrl}`, () => db.query('SELECT 1')))) return

    /** A fresh prefix (and, on PostgreSQL, schema), dropped afterwards; the CLI flags for it. */
    const fresh = (t: Test) => {
      const prefix = `${randomName('c')}_`
      const schema = kind === 'postgres' ? randomName('wsw_cli_') : undefined
      t.teardown(async () => {
        if (schema !== undefined) await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        else {
          await db.query(
            `DROP TABLE IF EXISTS ${TABLES.map((n) => `\`${prefix}${n}\``).join(', ')}`,
          )
          // Migration 3 installs a procedure next to the tables.
          await db.query(`DROP PROCEDURE IF EXISTS \`${prefix}admit\``)
        }
      })
      const flags = [
        '--store',
        baseUrl,
        '--prefix',
        prefix,
        ...(schema ? ['--schema', schema] : []),
      ]
      return { prefix, schema, flags }
    }

    /**
     * Stores over the fresh tables, on a clock that can be moved back: for the default ages, 3
     * stale sessions, 2 stale token ids and 1 stale window, next to fresh ones of every kind
     * (some expired, but not long enough ago).
     */
    const seeded = async (t: Test, target: ReturnType<typeof fresh>) => {
      let offset = 0
      const clock = { now: () => Date.now() + offset }
      const { prefix, schema } = target
      const stores = createSqlStores({ url: baseUrl, prefix, clock, ...(schema ? { schema } : {}) })
      t.teardown(() => stores.close())
      const now = Date.now()
      const record = (id: string, lastSeenAt: number, channels: string[]) =>
        stores.sessions.add({
          id,
          userId: `u-${id}`,
          instanceId: 'i',
          ip: '10.0.0.1',
          channels,
          connectedAt: 1,
          lastSeenAt,
        })
      for (const id of ['stale-1', 'stale-2', 'stale-3'])
        await record(id, now - 10 * MINUTE, ['lobby'])
      await record('recent', now - MINUTE, ['lobby'])
      await record('live', now, ['lobby', 'staff'])
      offset = -60 * MINUTE
      await stores.tokens.consume('stale-a', clock.now() + MINUTE)
      await stores.tokens.consume('stale-b', clock.now() + MINUTE)
      offset = -2 * MINUTE
      await stores.tokens.consume('recent', clock.now() + MINUTE)
      offset = 0
      await stores.tokens.consume('live', clock.now() + MINUTE)
      offset = -8 * DAY
      await stores.rateLimits.hit('stale', 20, MINUTE)
      offset = -DAY
      await stores.rateLimits.hit('recent', 20, MINUTE)
      offset = 0
      await stores.rateLimits.hit('open', 20, MINUTE)
      return stores
    }

    t.test('migrate creates the tables once', async (t) => {
      const target = fresh(t)
      const first = await run(['migrate', ...target.flags])
      t.equal(first.code, 0, first.stderr)
      const versions = migrations.map((migration) => migration.version)
      const latest = Math.max(...versions)
      t.ok(latest >= 2, 'the SQL package has several migrations')
      t.equal(
        first.stdout,
        `${baseUrl}: applied ${versions.join(', ')}; now at version ${latest}\n`,
      )
      // Version 4: the PostgreSQL broker's table of large payloads (MySQL has no broker).
      const table =
        kind === 'postgres'
          ? `"${target.schema}"."${target.prefix}broker_payloads"`
          : `${target.prefix}broker_payloads`
      const found = (await db.query(
        kind === 'postgres'
          ? `SELECT to_regclass('${table}') IS NOT NULL AS made`
          : `SELECT COUNT(*) > 0 AS made FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '${table}'`,
      )) as { rows: { made: unknown }[] } | [{ made: unknown }[]]
      const row = (Array.isArray(found) ? found[0] : found.rows)[0]
      t.equal(Number(row?.made) === 1, kind === 'postgres', 'the broker table, on PostgreSQL only')
      const again = await run(['migrate', '--json', ...target.flags])
      t.equal(again.code, 0)
      t.same(again.json<MigrateReport>(), { store: baseUrl, applied: [], version: latest })
      t.equal(
        (await run(['migrate', ...target.flags])).stdout,
        `${baseUrl}: already at version ${latest}\n`,
      )
    })

    t.test('cleanup removes exactly the stale records, with their counts', async (t) => {
      const target = fresh(t)
      t.equal((await run(['migrate', ...target.flags])).code, 0)
      const stores = await seeded(t, target)
      const dry = await run(['cleanup', '--dry-run', '--json', ...target.flags])
      t.equal(dry.code, 0, dry.stderr)
      t.match(dry.json(), { dryRun: true, sessions: 3, tokens: 2, rateLimits: 1 })
      const dryAgain = await run(['cleanup', '--dry-run', ...target.flags])
      t.match(
        dryAgain.stdout,
        /^sessions {5}3 .*\ntokens {7}2 .*\nrate-limits {2}1 .*\ndry run: would remove 6 records/,
      )
      t.equal(await stores.sessions.count(), 5, 'the dry run removed nothing')

      const real = await run(['cleanup', '--json', ...target.flags])
      t.equal(real.code, 0, real.stderr)
      t.match(real.json<CleanupReport>(), {
        store: baseUrl,
        dryRun: false,
        sessions: 3,
        tokens: 2,
        rateLimits: 1,
        agesMs: { sessions: 75_000, tokens: 300_000, rateLimits: 7 * DAY },
      })
      t.same(
        (await stores.sessions.stats()).channels,
        { lobby: 2, staff: 1 },
        'recent and live stay',
      )
      t.equal(await stores.tokens.consume('live', Date.now() + MINUTE), false, 'the live id stays')
      t.equal(await stores.tokens.sweep(Date.now()), 1, 'the recently expired id stayed')
      t.equal(await stores.rateLimits.sweep(Date.now()), 1, 'the recently ended window stayed')
      t.equal(
        (await stores.rateLimits.hit('open', 20, MINUTE)).remaining,
        18,
        'the open window stays',
      )
      const again = await run(['cleanup', '--json', ...target.flags])
      t.match(again.json(), { sessions: 0, tokens: 0, rateLimits: 0 })
    })

    t.test('stats: the cluster counts from the database', async (t) => {
      const target = fresh(t)
      t.equal((await run(['migrate', ...target.flags])).code, 0)
      await seeded(t, target)
      const { code, stdout } = await run(['stats', '--json', ...target.flags])
      t.equal(code, 0)
      const expected: StatsReport = {
        store: baseUrl,
        connections: 5,
        users: 5,
        channels: { lobby: 5, staff: 1 },
      }
      t.same(JSON.parse(stdout), expected)
    })

    t.test('tables not migrated: exit code 1 and what to do', async (t) => {
      const target = fresh(t)
      const stats = await run(['stats', ...target.flags])
      t.equal(stats.code, 1)
      t.match(
        stats.stderr,
        /^ws-warden stats: reading stats failed: .+ \(are the tables there\? run `ws-warden migrate` with the same --store, --prefix and --schema\)\n$/,
      )
      const cleanup = await run(['cleanup', '--sessions', ...target.flags])
      t.equal(cleanup.code, 1)
      t.match(cleanup.stderr, /^ws-warden cleanup: sessions failed: .+ \(are the tables there\?/)
    })

    t.test('a migration that fails is exit code 1', async (t) => {
      const target = fresh(t)
      // A table of the same name that is not ours: the migration cannot read its versions.
      const table =
        target.schema === undefined
          ? `\`${target.prefix}migrations\``
          : `"${target.schema}"."${target.prefix}migrations"`
      if (target.schema !== undefined) await db.query(`CREATE SCHEMA "${target.schema}"`)
      await db.query(`CREATE TABLE ${table} (unrelated integer)`)
      const { code, stdout, stderr } = await run(['migrate', ...target.flags])
      t.equal(code, 1)
      t.equal(stdout, '')
      t.match(stderr, /^ws-warden migrate: migration failed: .*version.*\n$/)
    })

    t.test('a bad prefix is a usage error', async (t) => {
      for (const command of ['migrate', 'stats']) {
        const { code, stderr } = await run([command, '--store', baseUrl, '--prefix', 'no-dashes'])
        t.equal(code, 2, command)
        t.match(
          stderr,
          new RegExp(
            `^ws-warden ${command}: bad store option: \\w+ option prefix must be letters, digits and _`,
          ),
        )
      }
    })

    t.test('a database that does not exist is unreachable', async (t) => {
      const url = new URL(baseUrl)
      url.pathname = `/${randomName('nodb_')}`
      const { code, stderr } = await run(['stats', '--store', url.toString()])
      t.equal(code, 3)
      t.match(stderr, /^ws-warden stats: cannot reach .+: .+\n$/)
    })
  })

  t.test(`${kind} unreachable: exit code 3 within --timeout, password redacted`, async (t) => {
    const refused = withPort(baseUrl, await closedPort(), 'hunter2')
    for (const command of ['migrate', 'cleanup', 'stats']) {
      const { code, stdout, stderr } = await run([command, '--store', refused, '--timeout', '1s'])
      t.equal(code, 3, command)
      t.equal(stdout, '')
      t.match(
        stderr,
        new RegExp(
          `^ws-warden ${command}: cannot reach \\w+://\\w+:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/test: .*ECONNREFUSED.*\\n$`,
        ),
      )
      t.notMatch(stderr, /hunter2/)
    }
    const silent = withPort(baseUrl, await blackHole(t))
    const hole = await run(['stats', '--store', silent, '--timeout', '300ms'])
    t.equal(hole.code, 3)
    t.match(hole.stderr, /^ws-warden stats: cannot reach \w+:\/\/\w+@127\.0\.0\.1:\d+\/test: .+\n$/)
  })
}
