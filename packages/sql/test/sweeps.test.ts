import t from 'tap'
import { createSqlStores, type SqlPool } from '../src/index.js'
import { eachDatabase, type Target } from './helpers/dialects.js'
import { recording, type Statement } from './helpers/recording.js'

const now = Date.now()
const batchSize = 1000

/** Inserts rows in chunks of multi-row VALUES, as the administrator. */
async function bulkInsert(db: Target, table: string, columns: string[], rows: unknown[][]) {
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500)
    let n = 0
    const tuple = () =>
      `(${columns.map(() => (db.name === 'postgres' ? `$${++n}` : '?')).join(', ')})`
    const sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${chunk.map(tuple).join(', ')}`
    await db.admin(sql, chunk.flat())
  }
}

async function countRows(db: Target, table: string): Promise<number> {
  const result = (await db.admin(`SELECT COUNT(*) AS n FROM ${table}`)) as
    { rows: { n: unknown }[] } | [{ n: unknown }[]]
  const rows = Array.isArray(result) ? result[0] : result.rows
  return Number(rows[0]?.n)
}

const deletes = (log: Statement[]) => log.filter((s) => s.sql.startsWith('DELETE')).length

eachDatabase(t, async (t, db) => {
  const tables = await db.fresh()
  const table = (name: string) =>
    db.name === 'postgres'
      ? `"${db.schema}"."${tables.prefix}${name}"`
      : `\`${tables.prefix}${name}\``
  const log: Statement[] = []
  const stores = createSqlStores({
    ...tables,
    pool: recording(tables.pool as SqlPool, log),
    batchSize,
  })

  t.test('tokens: thousands of expired ids go in batches; live ones stay', async (t) => {
    const expired = Array.from({ length: 3456 }, (_, i) => [`old-${i}`, now - 1000 - i])
    const live = Array.from({ length: 10 }, (_, i) => [`live-${i}`, now + 60_000])
    await bulkInsert(db, table('tokens'), ['jti', 'expires_at'], [...expired, ...live])
    log.length = 0
    t.equal(await stores.tokens.countSweepable(now + 3_600_000), 3456, 'a dry run counts them')
    t.equal(await stores.tokens.countSweepable(now - 1000), 3455, 'before is exclusive')
    t.equal(deletes(log), 0, 'and deletes nothing')
    t.equal(await stores.tokens.sweep(now + 3_600_000), 3456, 'exactly the expired ones')
    t.equal(deletes(log), 4, 'three full batches of 1000 and a short one')
    t.equal(await countRows(db, table('tokens')), 10)
    t.equal(await stores.tokens.sweep(now), 0)
  })

  t.test('a multiple of the batch size ends with an empty batch', async (t) => {
    const rows = Array.from({ length: 2000 }, (_, i) => [`rl-${i}`, 1, now - 5000])
    await bulkInsert(db, table('rate_limits'), ['name', 'hits', 'expires_at'], rows)
    await bulkInsert(
      db,
      table('rate_limits'),
      ['name', 'hits', 'expires_at'],
      [['open', 1, now + 60_000]],
    )
    log.length = 0
    t.equal(await stores.rateLimits.countSweepable(now + 3_600_000), 2000, 'never an open window')
    t.equal(deletes(log), 0)
    t.equal(await stores.rateLimits.sweep(now), 2000)
    t.equal(deletes(log), 3)
    t.equal(await countRows(db, table('rate_limits')), 1)
  })

  t.test('sessions: stale records and their channels go; fresh ones stay', async (t) => {
    const stale = Array.from({ length: 2500 }, (_, i) => [
      `stale-${i}`,
      `u${i % 50}`,
      'i',
      '192.0.2.1',
      now - 90_000,
      now - 90_000,
    ])
    const fresh = Array.from({ length: 5 }, (_, i) => [
      `fresh-${i}`,
      'u',
      'i',
      '192.0.2.1',
      now,
      now,
    ])
    const columns = ['id', 'user_id', 'instance_id', 'ip', 'connected_at', 'last_seen_at']
    await bulkInsert(db, table('sessions'), columns, [...stale, ...fresh])
    const channels = [...stale, ...fresh].map(([id]) => [id, 'room'])
    await bulkInsert(db, table('session_channels'), ['session_id', 'channel'], channels)
    log.length = 0
    t.equal(await stores.sessions.countSweepable(now - 30_000), 2500, 'a dry run counts them')
    t.equal(await stores.sessions.countSweepable(now - 90_000), 0, 'staleBefore is exclusive')
    t.equal(deletes(log), 0)
    t.equal(await stores.sessions.sweep(now - 30_000), 2500)
    t.equal(deletes(log), 3)
    t.equal(await stores.sessions.count(), 5)
    t.equal(await countRows(db, table('session_channels')), 5, 'channels went with their records')
    t.same(await stores.sessions.stats(), { connections: 5, users: 1, channels: { room: 5 } })
  })

  t.test('touch updates many ids in batches of batchSize', async (t) => {
    const ids = Array.from({ length: 2500 }, (_, i) => `t-${i}`)
    const columns = ['id', 'user_id', 'instance_id', 'ip', 'connected_at', 'last_seen_at']
    await bulkInsert(
      db,
      table('sessions'),
      columns,
      ids.map((id) => [id, 'u', 'i', 'ip', now, now]),
    )
    log.length = 0
    await stores.sessions.touch([...ids, 'unknown'], now + 5)
    t.equal(log.filter((s) => s.sql.startsWith('UPDATE')).length, 3)
    t.equal(await stores.sessions.sweep(now + 5), 5, 'only the five records from before')
    t.equal(await stores.sessions.count(), 2500)
  })

  t.test(
    'removeMany deletes many ids in batches of batchSize, their channels with them',
    async (t) => {
      const ids = Array.from({ length: 2500 }, (_, i) => `t-${i}`)
      await bulkInsert(
        db,
        table('session_channels'),
        ['session_id', 'channel'],
        ids.slice(0, 700).map((id) => [id, 'room']),
      )
      log.length = 0
      t.equal(await stores.sessions.removeMany([...ids, 'unknown']), 2500)
      t.equal(deletes(log), 3, 'two full batches of 1000 and a short one')
      t.equal(await stores.sessions.count(), 0)
      t.equal(await countRows(db, table('session_channels')), 0)
      t.equal(await stores.sessions.removeMany([]), 0)
      t.equal(deletes(log), 3, 'an empty call sends nothing')
    },
  )
})
