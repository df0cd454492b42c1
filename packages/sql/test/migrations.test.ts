import t from 'tap'
import { createSqlStores, migrate, migrations } from '../src/index.js'
import { applyMigrations } from '../src/migrations.js'
import { eachDatabase } from './helpers/dialects.js'
import { randomName } from './helpers/servers.js'
import { recording, type Statement } from './helpers/recording.js'

const common = [
  'counters',
  'history',
  'locks',
  'migrations',
  'rate_limits',
  'resumes',
  'session_channels',
  'sessions',
  'streams',
  'tokens',
]
/** The routines (not tables) of the migrations: dropped with the tables on MySQL. */
const routines = ['admit', 'admit_many']
const dropRoutines = (prefix: string) =>
  routines.map((name) => `DROP PROCEDURE IF EXISTS \`${prefix}${name}\``)
const versions = migrations.map((m) => m.version)
const latest = versions.at(-1) as number

eachDatabase(t, async (t, db) => {
  // The broker's table of large payloads: PostgreSQL only (MySQL has no LISTEN/NOTIFY).
  const expected = db.name === 'postgres' ? [...common, 'broker_payloads'].sort() : common
  /** The tables of version 1, the first release. */
  const version1 = common.filter((name) => !['history', 'resumes', 'streams'].includes(name))
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
      t.same(await migrate(options), { applied: versions, version: latest })
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
      t.same(
        Array.isArray(rows) ? rows[0] : rows.rows,
        migrations.map(({ version, name }) => ({ version, name })),
      )
      await db.admin(
        db.name === 'postgres'
          ? `DROP TABLE ${expected.map((name) => `"${db.schema}"."${prefix}${name}"`).join(', ')}`
          : `DROP TABLE ${expected.map((name) => `\`${prefix}${name}\``).join(', ')}`,
      )
      if (db.name !== 'postgres') for (const drop of dropRoutines(prefix)) await db.admin(drop)
    },
  )

  t.test('a schema of the previous version is upgraded, its data kept', async (t) => {
    const pool = db.pool()
    const prefix = `${randomName('v')}_`
    if (db.name !== 'postgres') {
      t.teardown(async () => {
        await db.admin(
          `DROP TABLE IF EXISTS ${expected.map((name) => `\`${prefix}${name}\``).join(', ')}`,
        )
        for (const drop of dropRoutines(prefix)) await db.admin(drop)
      })
    }
    const options = { pool, prefix, ...(db.schema && { schema: db.schema }) }
    t.same(await applyMigrations(options, migrations.slice(0, 1)), { applied: [1], version: 1 })
    t.same(await tablesOf(prefix), version1, 'version 1 as it shipped')
    const before = createSqlStores(options)
    const now = Date.now()
    const record = {
      id: 'kept',
      userId: 'u',
      instanceId: 'i',
      ip: '192.0.2.1',
      channels: ['room'],
      connectedAt: now,
      lastSeenAt: now,
    }
    t.same(await before.sessions.add(record, { total: 10 }), { ok: true })
    t.equal(await before.tokens.consume('kept-jti', now + 60_000), true)
    t.same(await migrate(options), { applied: versions.slice(1), version: latest })
    t.same(await tablesOf(prefix), expected)
    const after = createSqlStores(options)
    t.same(await after.sessions.get('kept'), record, 'the sessions are still there')
    t.equal(await after.tokens.consume('kept-jti', now + 60_000), false, 'and the used tokens')
    t.same(await after.sessions.add({ ...record, id: 'new' }, { total: 2 }), { ok: true })
    t.same(
      await after.sessions.add({ ...record, id: 'over' }, { total: 2 }),
      { ok: false, limit: 'total' },
      'the session bound carried over',
    )
    t.equal(await after.history.append('all', '{}', { maxLength: 10, ttlMs: 60_000 }), 1)
    await after.resumes.save({
      id: 'r',
      userId: 'u',
      credentialHash: 'h',
      state: '{}',
      expiresAt: now + 60_000,
    })
    t.equal((await after.resumes.claim('r', 'h'))?.id, 'r')
    t.same(await migrate(options), { applied: [], version: latest })
    t.same(
      await after.admission?.admit({
        attempts: [{ key: 'connect:ip:192.0.2.1', limit: 10 }],
        windowMs: 60_000,
        userId: 'u',
        jti: 'after-jti',
        tokenExpiresAt: now + 60_000,
        session: { record: { ...record, id: 'admitted' }, caps: { total: 3 } },
      }),
      { ok: true },
      'admission over the upgraded tables',
    )
  })

  t.test('version 7 installs admit_many: before it, admitMany admits one by one', async (t) => {
    const pool = db.pool()
    const prefix = `${randomName('b')}_`
    if (db.name !== 'postgres') {
      t.teardown(async () => {
        await db.admin(
          `DROP TABLE IF EXISTS ${expected.map((name) => `\`${prefix}${name}\``).join(', ')}`,
        )
        for (const drop of dropRoutines(prefix)) await db.admin(drop)
      })
    }
    const options = { pool, prefix, ...(db.schema && { schema: db.schema }) }
    const before = migrations.filter((m) => m.version < 7)
    t.same(await applyMigrations(options, before), { applied: versions.slice(0, 6), version: 6 })
    const log: Statement[] = []
    const admission = createSqlStores({ ...options, pool: recording(pool, log) }).admission
    const now = Date.now()
    const admit = (id: string, jti: string) => ({
      attempts: [{ key: 'connect:ip:192.0.2.7', limit: 10 }],
      windowMs: 60_000,
      userId: 'u',
      jti,
      tokenExpiresAt: now + 60_000,
      session: {
        record: {
          id,
          userId: 'u',
          instanceId: 'i',
          ip: '192.0.2.7',
          channels: [],
          connectedAt: now,
          lastSeenAt: now,
        },
        caps: { perUser: 2 },
      },
    })
    const three = [admit('a', 'ja'), admit('b', 'ja'), admit('c', 'jc')]
    t.same(await admission?.admitMany?.(three), [
      { ok: true },
      { ok: false, reason: 'replayed' },
      { ok: true },
    ])
    t.same(
      log.map(({ sql }) => (/admit_many/.test(sql) ? 'many' : /admit/.test(sql) ? 'one' : sql)),
      ['many', 'one', 'one', 'one'],
      'the missing routine, then admit for each',
    )
    t.same(await migrate(options), { applied: [7, 8, 9], version: latest })
    log.length = 0
    t.same(await admission?.admitMany?.([admit('d', 'jd'), admit('e', 'je')]), [
      { ok: false, reason: 'limit', limit: 'user' },
      { ok: false, reason: 'limit', limit: 'user' },
    ])
    t.equal(log.length, 1, 'one call once migrated')
  })

  t.test('concurrent first runs: exactly one applies each version', async (t) => {
    const { prefix } = { prefix: `${randomName('c')}_` }
    if (db.name !== 'postgres') {
      // MySQL's test database is shared (PostgreSQL runs in a schema dropped after the run).
      t.teardown(async () => {
        await db.admin(
          `DROP TABLE IF EXISTS ${expected.map((name) => `\`${prefix}${name}\``).join(', ')}`,
        )
        for (const drop of dropRoutines(prefix)) await db.admin(drop)
      })
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
      t.same((await migrate({ url: PG_URL, schema, prefix: 'u_' })).applied, versions)
      t.same(await tablesOf('u_', schema), expected)
    })
  }
})
