import t from 'tap'
import {
  ComposedAdmission,
  type AdmitRequest,
  type ConnectionCaps,
  type SessionRecord,
} from '@ws-warden/core/stores'
import {
  createSqlStores,
  migrate,
  migrations,
  SqlAdmissionStore,
  type SqlPool,
} from '../src/index.js'
import { admissionOn } from './helpers/admission.js'
import { holdLock, lockKey } from './helpers/cap-locks.js'
import { eachDatabase, type Target } from './helpers/dialects.js'
import { recording, type Statement } from './helpers/recording.js'
import { pgPool } from './helpers/servers.js'

const WINDOW = 60_000
let n = 0
/** The migration that installs the routine, and the latest version (other migrations may follow). */
const routine = migrations.find((m) => m.name === 'admission in one round trip')!.version
const latest = migrations.at(-1)!.version

function record(fields: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now()
  return {
    id: `conn-${++n}`,
    userId: 'u',
    instanceId: 'i',
    ip: '192.0.2.1',
    channels: [],
    connectedAt: now,
    lastSeenAt: now,
    ...fields,
  }
}

/** A handshake of `user` from `ip`, inserting `session` (none: count and consume only). */
function request(
  session: SessionRecord | undefined,
  fields: Partial<AdmitRequest> = {},
  caps: ConnectionCaps = { perUser: 100, perIp: 100, total: 1_000_000 },
): AdmitRequest {
  const user = session?.userId ?? 'u'
  const ip = session?.ip ?? '192.0.2.1'
  return {
    attempts: [
      { key: `connect:ip:${ip}`, limit: 100 },
      { key: `connect:user:${user}`, limit: 100 },
    ],
    windowMs: WINDOW,
    userId: user,
    jti: `jti-${++n}`,
    tokenExpiresAt: Date.now() + WINDOW,
    ...(session && { session: { record: session, caps } }),
    ...fields,
  }
}

/** The quoted name of one of the package's objects for `tables`. */
function named(db: Target, tables: { prefix: string; schema?: string }, name: string): string {
  return db.name === 'postgres'
    ? `"${tables.schema}"."${tables.prefix}${name}"`
    : `\`${tables.prefix}${name}\``
}

eachDatabase(t, async (t, db) => {
  const tables = await db.fresh()

  t.test('an admission is one statement, a refusal too; composed it is many', async (t) => {
    const log: Statement[] = []
    const pool = recording(tables.pool as SqlPool, log)
    const admission = admissionOn({ ...tables, pool })
    const session = record({ userId: 'one-trip', channels: ['a', 'b'] })
    t.same(await admission.admit(request(session)), { ok: true })
    t.equal(log.length, 1, log.map((s) => s.sql.slice(0, 40)).join(' | '))
    t.match(log[0]?.sql, db.name === 'postgres' ? /^CALL .*admit"\(/ : /^CALL `.*admit`\(/)
    const replay = request(record({ userId: 'one-trip' }), { jti: 'replayed-once' })
    t.same(await admission.admit(replay), { ok: true })
    log.length = 0
    t.same(await admission.admit(replay), { ok: false, reason: 'replayed' })
    t.equal(log.length, 1)
    log.length = 0
    const composed = await new ComposedAdmission(admission).admit(
      request(record({ userId: 'one-trip' })),
    )
    t.same(composed, { ok: true })
    t.ok(log.length >= 5, `the composed calls took ${log.length} statements`)
  })

  t.test('channels, keys of any bytes, and a replacement', async (t) => {
    const admission = admissionOn(tables)
    const odd = `ü"\\'😀 ${db.name}`
    const session = record({ userId: odd, ip: `ip ${odd}`, channels: ['room', odd, 'room'] })
    const req = request(session, {}, { perUser: 1, perIp: 1, total: 1_000_000 })
    t.same(await admission.admit(req), { ok: true })
    t.same(await admission.sessions.get(session.id), { ...session, channels: ['room', odd] })
    t.equal((await admission.rateLimits.hit(`connect:user:${odd}`, 100, WINDOW)).remaining, 98)
    t.equal(await admission.tokens.consume(req.jti, req.tokenExpiresAt), false)
    // The same id again: a replacement, not one more connection of the user.
    const replaced = { ...session, channels: ['other', odd] }
    t.same(await admission.admit(request(replaced, {}, { perUser: 1, perIp: 1 })), {
      ok: true,
    })
    const got = await admission.sessions.get(session.id)
    t.same([...(got?.channels ?? [])].sort(), ['other', odd].sort())
    t.equal(await admission.sessions.count({ userId: odd }), 1)
  })

  t.test('retryAfterMs is what the rate-limit store answers for the same window', async (t) => {
    let now = Date.now()
    const clock = { now: () => now }
    const admission = admissionOn({ ...tables, clock })
    const session = record({ userId: 'retry', ip: '198.51.100.9' })
    const first = request(session, {})
    const refusing = {
      ...first,
      attempts: [{ key: 'connect:ip:198.51.100.9', limit: 1 }, ...first.attempts.slice(1)],
    }
    t.same(await admission.admit(refusing), { ok: true })
    now += 10_000
    const answer = await admission.admit({ ...refusing, jti: 'retry-2' })
    t.same(answer, {
      ok: false,
      reason: 'attempts',
      key: 'connect:ip:198.51.100.9',
      retryAfterMs: WINDOW - 10_000,
    })
    now += WINDOW
    const { session: _, ...countOnly } = refusing
    t.same(await admission.admit({ ...countOnly, jti: 'retry-3' }), { ok: true }, 'a new window')
  })

  t.test('an expired token: nothing stored; an expired id: replaced once', async (t) => {
    const admission = admissionOn(tables)
    const expired = request(undefined, { jti: 'gone', tokenExpiresAt: Date.now() - 1 })
    t.same(await admission.admit(expired), { ok: true })
    t.same(await admission.admit(expired), { ok: true }, 'it never verifies: nothing to replay')
    // A clock in the past writes an id that is already expired for the real clock.
    const past = admissionOn({ ...tables, clock: { now: () => Date.now() - 120_000 } })
    t.same(
      await past.admit(request(undefined, { jti: 'reused', tokenExpiresAt: Date.now() - 60_000 })),
      { ok: true },
    )
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        admission.admit(
          request(record({ userId: `reuse-${i}` }), {
            jti: 'reused',
            tokenExpiresAt: Date.now() + WINDOW,
          }),
        ),
      ),
    )
    t.equal(answers.filter((a) => a.ok).length, 1)
    t.equal(answers.filter((a) => !a.ok && a.reason === 'replayed').length, 19)
  })

  t.test('admissions and sessions.add of one user on two pools share the cap', async (t) => {
    const pools = [db.pool(), db.pool()]
    const [a, b] = pools.map((pool) => admissionOn({ ...tables, pool })) as [
      SqlAdmissionStore,
      SqlAdmissionStore,
    ]
    const caps = { perUser: 6, perIp: 9, total: 1_000_000 }
    const answers = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const session = record({ userId: 'shared-cap', ip: `203.0.113.${i % 2}` })
        if (i % 2 === 0) {
          const added = await a.sessions.add(session, caps)
          return added.ok
        }
        const admitted = await b.admit(request(session, {}, caps))
        return admitted.ok
      }),
    )
    t.equal(answers.filter(Boolean).length, 6)
    t.equal(await a.sessions.count({ userId: 'shared-cap' }), 6)
  })

  t.test('the total bound: recounted at the cap, rebuilt without its row', async (t) => {
    const own = await db.fresh()
    const admission = admissionOn(own)
    const caps = { perUser: 100, perIp: 100, total: 2 }
    const admit = (id: string) => admission.admit(request(record({ id, userId: id }), {}, caps))
    t.same(await admit('t1'), { ok: true })
    // Without a total cap the bound is raised all the same.
    t.same(await admission.admit(request(record({ id: 't2', userId: 't2' }), {}, {})), { ok: true })
    t.same(await admit('t3'), { ok: false, reason: 'limit', limit: 'total' })
    await admission.sessions.remove('t1')
    t.same(await admit('t3'), { ok: true }, 'room again: the bound was recounted')
    await db.admin(`DELETE FROM ${named(db, own, 'counters')}`)
    t.same(await admit('t4'), { ok: false, reason: 'limit', limit: 'total' })
    await admission.sessions.remove('t2')
    t.same(await admit('t4'), { ok: true }, 'the lost counter row is rebuilt')
    t.same(await admission.sessions.add(record({ id: 't5' }), { total: 2 }), {
      ok: false,
      limit: 'total',
    })
  })

  t.test(
    'a cap lock held elsewhere: the wait gives up, the attempts and the token stay',
    async (t) => {
      const admission = admissionOn({ ...tables, timeoutMs: 1000 })
      const holder = await holdLock(db.pool(), lockKey(db, tables, 'user:held'))
      const session = record({ userId: 'held', ip: '198.51.100.77' })
      const req = request(session)
      try {
        const outcome = await admission.admit(req).catch((e: Error) => e)
        t.type(outcome, Error)
        t.match(String(outcome), db.name === 'postgres' ? /lock timeout/ : /lock wait exceeded/)
      } finally {
        await holder()
      }
      // As the composed calls leave them: the hits and the consume came before the insert.
      t.equal((await admission.rateLimits.hit(req.attempts[0]!.key, 100, WINDOW)).remaining, 98)
      t.same(await admission.admit(req), { ok: false, reason: 'replayed' })
      t.equal(await admission.sessions.get(session.id), null)
    },
  )

  t.test('a deadlock victim runs again (admitMany calls can deadlock with it)', async (t) => {
    const log: Statement[] = []
    let first = true
    const pool = recording(tables.pool as SqlPool, log, () => {
      const how = first ? 'deadlock' : 'run'
      first = false
      return how
    })
    const admission = admissionOn({ ...tables, pool })
    t.same(await admission.admit(request(record({ userId: 'victim' }))), { ok: true })
    t.equal(log.length, 2)
  })

  t.test('without the routine (not migrated to 3) it composes the calls', async (t) => {
    const own = await db.fresh()
    await db.admin(`DROP PROCEDURE ${named(db, own, 'admit')}`)
    await db.admin(`DELETE FROM ${named(db, own, 'migrations')} WHERE version = ${routine}`)
    const admission = admissionOn(own)
    const session = record({ userId: 'unmigrated' })
    t.same(await admission.admit(request(session)), { ok: true })
    t.equal(await admission.sessions.count({ userId: 'unmigrated' }), 1)
    const replay = request(record({ userId: 'unmigrated' }), { jti: 'unmigrated' })
    t.same(await admission.admit(replay), { ok: true })
    t.same(await admission.admit(replay), { ok: false, reason: 'replayed' })
    t.same(await migrate(own), { applied: [routine], version: latest })
    const log: Statement[] = []
    const recorded = admissionOn({ ...own, pool: recording(own.pool, log) })
    t.same(await recorded.admit(replay), { ok: false, reason: 'replayed' }, 'the same tables')
    t.equal(log.length, 1, 'one trip once migrated')
  })

  t.test('the routine installs again cleanly, and keeps working', async (t) => {
    const own = await db.fresh()
    await db.admin(`DELETE FROM ${named(db, own, 'migrations')} WHERE version = ${routine}`)
    t.same(await migrate(own), { applied: [routine], version: latest }, 'applied over itself')
    t.same(await migrate(own), { applied: [], version: latest })
    const admission = admissionOn(own)
    t.same(await admission.admit(request(record({ userId: 'reinstalled' }))), { ok: true })
  })

  if (db.name === 'postgres') {
    t.test('PostgreSQL: the call answers once its admission is flushed to disk', async (t) => {
      // The admission commits without waiting for the flush, then flushes: right after each
      // call, the WAL flushed covers the last change to the tokens' page (pageinspect reads its
      // LSN). Without that flush it would not, but for the rare moment another commit flushed.
      const own = await db.fresh()
      const pool = pgPool({ max: 1 })
      t.teardown(() => pool.end())
      const created = await pool
        .query(`CREATE EXTENSION IF NOT EXISTS pageinspect WITH SCHEMA "${own.schema}"`)
        .catch((error: Error) => error)
      // pageinspect ships with PostgreSQL (Debian's postgresql package): missing, it fails, not skips.
      if (created instanceof Error) return t.fail(`no pageinspect: ${created.message}`)
      const { rows } = await pool.query(
        "SELECT extnamespace::regnamespace::text AS at FROM pg_extension WHERE extname = 'pageinspect'",
      )
      const at = rows[0].at as string
      const admission = admissionOn({ ...own, pool })
      const flushed: boolean[] = []
      for (let i = 0; i < 20; i++) {
        t.same(await admission.admit(request(record({ userId: `flushed${i}` }))), { ok: true })
        const { rows } = await pool.query(
          `SELECT pg_current_wal_flush_lsn() >= (${at}.page_header(${at}.get_raw_page($1, 0))).lsn AS f`,
          [`${own.schema}.${own.prefix}tokens`],
        )
        flushed.push(rows[0].f as boolean)
      }
      t.same(
        flushed,
        Array.from({ length: 20 }, () => true),
      )
    })

    t.test('PostgreSQL: a transaction above READ COMMITTED is refused', async (t) => {
      const pool = pgPool({ options: '-c default_transaction_isolation=repeatable\\ read' })
      t.teardown(() => pool.end())
      const admission = admissionOn({ ...tables, pool })
      await t.rejects(admission.admit(request(record())), /admit needs READ COMMITTED/)
    })
  }

  t.test('arguments are checked before any trip', async (t) => {
    const admission = admissionOn(tables)
    const valid = request(record())
    await t.rejects(admission.admit({ ...valid, jti: '' }), /consume\(jti\)/)
    await t.rejects(admission.admit({ ...valid, windowMs: 0 }), /hit\(windowMs\)/)
    await t.rejects(
      admission.admit({ ...valid, attempts: [{ key: 'k', limit: 1.5 }] }),
      /hit\(limit\)/,
    )
    await t.rejects(
      admission.admit({ ...valid, session: { record: { ...record(), ip: '' }, caps: {} } }),
      /sessions\.add\(record\.ip\)/,
    )
    t.throws(() => new SqlAdmissionStore({ ...tables } as never), /needs the options sessions/)
    t.throws(() => new SqlAdmissionStore(undefined as never), /needs the options sessions/)
  })

  t.test(
    'createSqlStores: admission over its own stores, none with rateLimitFailOpen',
    async (t) => {
      const stores = createSqlStores(tables)
      t.equal(stores.admission?.sessions, stores.sessions)
      t.equal(stores.admission?.tokens, stores.tokens)
      t.equal(stores.admission?.rateLimits, stores.rateLimits)
      t.equal(createSqlStores({ ...tables, rateLimitFailOpen: true }).admission, undefined)
      await stores.admission?.close()
    },
  )
})
