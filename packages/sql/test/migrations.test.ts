import t from 'tap'
import { migrate, migrations } from '../src/index.js'
import { eachDatabase } from './helpers/dialects.js'
import { randomName } from './helpers/servers.js'

const expected = [
  'counters',
  'locks',
  'migrations',
  'rate_limits',
  'session_channels',
  'sessions',
  'tokens',
]

eachDatabase(t, async (t, db) => {
  const tablesOf = async (prefix: string, schema = db.schema) => {
    const [sql, params] =
      db.name === 'postgres'
        ? [
            'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE $2',
            [schema, `${prefix}%`],
          ]
        : [
            'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?',
            [`${prefix}%`],
          ]
    const result = (await db.admin(sql, params)) as
      { rows?: { name: string }[] } | [{ name: string }[]]
    const rows = Array.isArray(result) ? result[0] : (result.rows ?? [])
    return rows.map((row) => row.name.slice(prefix.length)).sort()
  }

  t.test(
    'creates every table under the prefix, records the version, and is idempotent',
    async (t) => {
      const pool = db.pool()
      const prefix = `${randomName('m')}_`
      const options = { pool, prefix, ...(db.schema && { schema: db.schema }) }
      const latest = migrations[migrations.length - 1]?.version
      t.same(await migrate(options), { applied: migrations.map((m) => m.version), version: latest })
      t.same(await tablesOf(prefix), expected)
      t.same(
        await migrate(options),
        { applied: [], version: latest },
        'a second run applies nothing',
      )
      const applied = await Promise.all(Array.from({ length: 4 }, () => migrate(options)))
      t.same(
        applied.map((r) => r.applied),
        [[], [], [], []],
      )
      const rows = (await db.admin(
        db.name === 'postgres'
          ? `SELECT version, name FROM "${db.schema}"."${prefix}migrations"`
          : `SELECT version, name FROM \`${prefix}migrations\``,
      )) as { rows?: unknown[] } | [unknown[]]
      t.same(Array.isArray(rows) ? rows[0] : rows.rows, [{ version: 1, name: migrations[0]?.name }])
      await db.admin(
        db.name === 'postgres'
          ? `DROP TABLE "${db.schema}"."${prefix}session_channels", "${db.schema}"."${prefix}sessions", "${db.schema}"."${prefix}tokens", "${db.schema}"."${prefix}rate_limits", "${db.schema}"."${prefix}locks", "${db.schema}"."${prefix}counters", "${db.schema}"."${prefix}migrations"`
          : `DROP TABLE \`${prefix}session_channels\`, \`${prefix}sessions\`, \`${prefix}tokens\`, \`${prefix}rate_limits\`, \`${prefix}locks\`, \`${prefix}counters\`, \`${prefix}migrations\``,
      )
    },
  )

  t.test('concurrent first runs: exactly one applies each version', async (t) => {
    const { prefix } = { prefix: `${randomName('c')}_` }
    if (db.name !== 'postgres') {
      // MySQL's test database is shared (PostgreSQL runs in a schema dropped after the run).
      t.teardown(() =>
        db.admin(
          `DROP TABLE IF EXISTS ${expected.map((name) => `\`${prefix}${name}\``).join(', ')}`,
        ),
      )
    }
    const pool = db.pool()
    const options = { pool, prefix, ...(db.schema && { schema: db.schema }) }
    const reports = await Promise.all(Array.from({ length: 5 }, () => migrate(options)))
    t.equal(reports.filter((r) => r.applied.length > 0).length, 1)
    t.same(await tablesOf(prefix), expected)
  })

  // Only on PostgreSQL, inside a schema of its own: MySQL's test database is shared.
  if (db.name === 'postgres') {
    t.test('the default prefix is ws_warden_', async (t) => {
      const schema = randomName('wsw_default_')
      const pool = db.pool()
      t.teardown(() => db.admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
      await migrate({ pool, schema })
      t.same(await tablesOf('ws_warden_', schema), expected)
    })
  }

  if (db.name === 'postgres') {
    t.test('a url-made pool is ended after migrating', async (t) => {
      const schema = randomName('wsw_url_')
      t.teardown(() => db.admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
      const { PG_URL } = await import('./helpers/servers.js')
      t.same((await migrate({ url: PG_URL, schema, prefix: 'u_' })).applied, [1])
      t.same(await tablesOf('u_', schema), expected)
    })
  }
})
