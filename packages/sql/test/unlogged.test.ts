import t from 'tap'
import { createSqlStores, setSessionTablesUnlogged } from '../src/index.js'
import { eachDatabase } from './helpers/dialects.js'
import { MYSQL_URL, PG_URL } from './helpers/servers.js'

eachDatabase(t, async (t, db) => {
  const tables = await db.fresh()

  if (db.name === 'mysql') {
    t.test('MySQL: refused, and a pool made from url is ended', async (t) => {
      await t.rejects(setSessionTablesUnlogged(tables, true), /for PostgreSQL only/)
      const { prefix } = tables
      await t.rejects(setSessionTablesUnlogged({ url: MYSQL_URL, prefix }, true), /PostgreSQL only/)
    })
    return
  }

  /** How PostgreSQL keeps each session table: 'u' unlogged, 'p' logged. */
  const persistence = async () => {
    const { rows } = (await db.admin(
      `SELECT relname, relpersistence FROM pg_class WHERE relnamespace = $1::regnamespace
        AND relname IN ($2, $3) ORDER BY relname`,
      [`"${tables.schema}"`, `${tables.prefix}session_channels`, `${tables.prefix}sessions`],
    )) as { rows: { relpersistence: string }[] }
    return rows.map((row) => row.relpersistence)
  }

  t.test('PostgreSQL: both session tables unlogged and back, the stores working', async (t) => {
    const now = Date.now()
    const record = (id: string) => ({
      id,
      userId: 'u',
      instanceId: 'i',
      ip: '192.0.2.1',
      channels: ['room'],
      connectedAt: now,
      lastSeenAt: now,
    })
    const stores = createSqlStores(tables)
    t.same(await stores.sessions.add(record('before')), { ok: true })
    await setSessionTablesUnlogged(tables, true)
    t.same(await persistence(), ['u', 'u'])
    t.same((await stores.sessions.get('before'))?.channels, ['room'], 'the rows stay')
    const admitted = await stores.admission?.admit({
      attempts: [{ key: 'connect:ip:192.0.2.1', limit: 10 }],
      windowMs: 60_000,
      userId: 'u',
      jti: 'unlogged-jti',
      tokenExpiresAt: now + 60_000,
      session: { record: record('admitted'), caps: { perUser: 3, perIp: 3, total: 10 } },
    })
    t.same(admitted, { ok: true })
    const many = (id: string) => ({
      attempts: [{ key: 'connect:ip:192.0.2.1', limit: 10 }],
      windowMs: 60_000,
      userId: 'u',
      jti: `unlogged-${id}`,
      tokenExpiresAt: now + 60_000,
      session: { record: record(id), caps: { perUser: 3, perIp: 3, total: 10 } },
    })
    t.same(
      await stores.admission?.admitMany?.([many('many-1'), many('many-2')]),
      [{ ok: true }, { ok: false, reason: 'limit', limit: 'user' }],
      'admitMany too, the user at its cap of 3',
    )
    t.equal(await stores.sessions.remove('many-1'), true)
    t.equal(await stores.sessions.count({ userId: 'u' }), 2)
    t.equal(await stores.sessions.remove('before'), true)
    t.same(await stores.sessions.listByChannel('room'), [record('admitted')], 'channels cascade')
    // From a url: the pool it makes is ended.
    await setSessionTablesUnlogged(
      { url: PG_URL, schema: tables.schema, prefix: tables.prefix },
      false,
    )
    t.same(await persistence(), ['p', 'p'])
    t.equal(await stores.sessions.count(), 1)
    await t.rejects(setSessionTablesUnlogged(tables, 'yes' as never), /unlogged as a boolean/)
  })
})
