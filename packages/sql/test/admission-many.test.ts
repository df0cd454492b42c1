import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { AdmitRequest, SessionRecord } from '@ws-warden/core/stores'
import type { MySqlPool, PgPool, SqlPool } from '../src/index.js'
import { resolve, type Tables } from '../src/options.js'
import { admissionOn } from './helpers/admission.js'
import { eachDatabase, type Target } from './helpers/dialects.js'
import { recording, type Statement } from './helpers/recording.js'
import { mysqlPool } from './helpers/servers.js'

const WINDOW = 60_000
let n = 0

function request(userId: string, fields: Partial<AdmitRequest> = {}): AdmitRequest {
  const now = Date.now()
  const record: SessionRecord = {
    id: `m-${++n}`,
    userId,
    instanceId: 'i',
    ip: '192.0.2.90',
    channels: ['room', 'lobby'],
    connectedAt: now,
    lastSeenAt: now,
  }
  return {
    attempts: [{ key: `connect:user:${userId}`, limit: 100 }],
    windowMs: WINDOW,
    userId,
    jti: `mj-${++n}`,
    tokenExpiresAt: now + WINDOW,
    session: { record, caps: { perUser: 100, perIp: 1000, total: 10_000 } },
    ...fields,
  }
}

/** The commit whose admit_many is version 8's (the last before version 9). */
const V8 = 'a9c7941'

/**
 * `mysqlAdmitMany` as commit `ref` has it, read out of git (with the steps it imports) into a
 * directory of the package (where TypeScript's imports resolve as in src), removed after.
 */
async function mysqlRoutineOf(t: Test, ref: string): Promise<(t: Tables) => string[]> {
  mkdirSync(join(import.meta.dirname, '..', '.tmp'), { recursive: true })
  const dir = mkdtempSync(join(import.meta.dirname, '..', '.tmp', 'routines-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const name of ['admission-sql', 'admission-many-sql']) {
    const source = execFileSync('git', ['show', `${ref}:packages/sql/src/${name}.ts`])
    writeFileSync(join(dir, `${name}.ts`), source)
  }
  const module = (await import(join(dir, 'admission-many-sql.ts'))) as {
    mysqlAdmitMany(t: Tables): string[]
  }
  return module.mysqlAdmitMany
}

/**
 * A pool whose admit_many calls meet a routine before version 9 created without a strict
 * `sql_mode`: it reads no request out of fields and answers NULL. The JSON array is passed on
 * through `json`, or answered NULL as well if it gives `undefined`.
 */
function oldRoutine(mysql: MySqlPool, json: (sent: string) => string | undefined): MySqlPool {
  return {
    getConnection: async () => {
      const connection = await mysql.getConnection()
      return {
        query: (options) => {
          const values = [...(options.values ?? [])]
          if (/admit_many/.test(options.sql)) {
            const sent = /^v9/.test(String(values[1])) ? undefined : json(String(values[1]))
            if (sent === undefined)
              return Promise.resolve([[[{ answers: null }], {}], []] as [unknown, unknown])
            values[1] = sent
          }
          return connection.query({ ...options, values })
        },
        release: () => connection.release(),
        destroy: () => connection.destroy(),
      }
    },
    end: () => mysql.end(),
  }
}

const calls = (log: Statement[]) => log.filter(({ sql }) => /admit_many/.test(sql)).length

/**
 * Holds the row of token `jti` (inserted, not committed) on a connection of its own: a claim of
 * it waits. Resolves the function that rolls it back.
 */
async function holdToken(db: Target, prefix: string, jti: string): Promise<() => Promise<void>> {
  const pool = db.pool()
  const expires = Date.now() + WINDOW
  if ('getConnection' in pool) {
    const connection = await (pool as MySqlPool).getConnection()
    await connection.query({ sql: 'START TRANSACTION' })
    await connection.query({
      sql: `INSERT INTO \`${prefix}tokens\` (jti, expires_at) VALUES (?, ?)`,
      values: [jti, expires],
    })
    return async () => {
      await connection.query({ sql: 'ROLLBACK' })
      connection.release()
    }
  }
  const client = await (pool as PgPool).connect()
  await client.query({ text: 'BEGIN' })
  await client.query({
    text: `INSERT INTO "${db.schema}"."${prefix}tokens" (jti, expires_at) VALUES ($1, $2)`,
    values: [jti, expires],
  })
  return async () => {
    await client.query({ text: 'ROLLBACK' })
    client.release()
  }
}

/** A pool whose row lock waits give up after a second (MySQL's default is 50). */
function impatientPool(t: Test, db: Target): SqlPool {
  if (db.name === 'postgres') return db.pool()
  const pool = mysqlPool()
  t.teardown(() => pool.end())
  pool.pool.on('connection', (connection) => {
    connection.query('SET SESSION innodb_lock_wait_timeout = 1')
  })
  return pool
}

eachDatabase(t, async (t, db) => {
  const tables = await db.fresh()

  t.test('admitManyLimit requests in one call; more are refused before any call', async (t) => {
    const log: Statement[] = []
    const admission = admissionOn({ ...tables, pool: recording(tables.pool, log) })
    t.equal(admission.admitManyLimit, 64)
    const requests = Array.from({ length: 64 }, (_, i) => request(`limit-${i % 8}`))
    const answers = await admission.admitMany(requests)
    t.same(
      answers,
      requests.map(() => ({ ok: true })),
    )
    t.equal(log.length, 1, 'one round trip')
    t.equal(calls(log), 1)
    t.equal(await admission.sessions.count({ ip: '192.0.2.90' }), 64)
    const before = log.length
    await t.rejects(admission.admitMany([...requests, request('over')]), RangeError)
    t.equal(log.length, before, 'refused without a call')
  })

  t.test('ids, users, IPs and channels come back as sent, whatever their characters', async (t) => {
    // MySQL cuts JSON requests at each `,` + newline between them (v8), fields at each NUL (v9):
    // none of these may cut one, nor a quote or bracket end it early, nor pass for a null or the
    // fields' tag.
    const odd = ['a,\nb', 'q"},\n{"', ']\n,', 'é,😀\\n', 'tab\t,\r\n']
    const fieldly = ['v9', '\u0001\u001f', 'ÿ\uffff', '12', '[]', '{"a":1}', '\\0', 'null', ' ']
    const pools: [string, SqlPool][] = [['fields', tables.pool]]
    if (db.name === 'mysql') pools.push(['json', oldRoutine(tables.pool as MySqlPool, (s) => s)])
    for (const [layout, pool] of pools) {
      const admission = admissionOn({ ...tables, pool })
      const requests = [...odd, ...fieldly].map((text, i) => {
        const base = request(`odd-${layout}-${i}-${text}`)
        const { record } = base.session!
        return {
          ...base,
          jti: `${base.jti}${text}`,
          session: {
            ...base.session!,
            record: {
              ...record,
              id: `${record.id}${text}`,
              instanceId: text,
              ip: `ip${text}`,
              channels: [text, `c${i}`],
            },
          },
        }
      })
      t.same(
        await admission.admitMany(requests),
        requests.map(() => ({ ok: true })),
        layout,
      )
      for (const { session } of requests) {
        const { record } = session
        const stored = await admission.sessions.get(record.id)
        t.same(
          stored && { ...stored, channels: [...stored.channels].sort() },
          { ...record, channels: [...record.channels].sort() },
          `${layout} ${JSON.stringify(record.id)}`,
        )
      }
      t.same(
        await admission.admitMany(requests.slice(0, 2)),
        [
          { ok: false, reason: 'replayed' },
          { ok: false, reason: 'replayed' },
        ],
        'their token ids stored as sent',
      )
    }
  })

  if (db.name === 'mysql') {
    t.test('the routine still reads the arrays of version 8 and 7 stores', async (t) => {
      for (const compact of [false, true]) {
        const log: string[] = []
        // An old routine to the store (it answers NULL to fields), then the JSON array it sends,
        // as is (v8) or as JSON.stringify writes it (v7).
        const pool = oldRoutine(tables.pool as MySqlPool, (json) => {
          const sent = compact ? JSON.stringify(JSON.parse(json)) : json
          log.push(sent)
          return sent
        })
        const admission = admissionOn({ ...tables, pool })
        const user = compact ? 'compact' : 'lines'
        const first = request(user)
        const answers = await admission.admitMany([first, request(user), first])
        t.same(answers, [{ ok: true }, { ok: true }, { ok: false, reason: 'replayed' }])
        t.equal(log.length, 1)
        t.match(log[0], compact ? /^\[\{[^\n]*\}\]$/ : /^\[\{.*\},\n\{.*\},\n\{.*\}\]$/)
        t.equal(await admission.sessions.count({ userId: user }), 2)
      }
    })

    t.test('a routine that answers NULL to the JSON array too fails the call', async (t) => {
      const pool = oldRoutine(tables.pool as MySqlPool, () => undefined)
      await t.rejects(admissionOn({ ...tables, pool }).admitMany([request('null')]), {
        message: /answered no request/,
      })
    })

    t.test('a routine before version 9 is sent the JSON array, fields again later', async (t) => {
      const old = await db.fresh()
      const { db: database, tables: names } = resolve('test', old)
      for (const sql of (await mysqlRoutineOf(t, V8))(names)) await database.run(sql)
      let clock = Date.now()
      const log: Statement[] = []
      const pool = recording(old.pool, log)
      const admission = admissionOn({ ...old, pool, clock: { now: () => clock } })
      const layouts = () => {
        const sent = log.map(({ values }) => (/^v9/.test(String(values[1])) ? 'fields' : 'json'))
        log.length = 0
        return sent
      }
      const first = request('v8')
      t.same(await admission.admitMany([first, request('v8'), first]), [
        { ok: true },
        { ok: true },
        { ok: false, reason: 'replayed' },
      ])
      t.same(layouts(), ['fields', 'json'], 'fields refused, then the array')
      t.same(await admission.admitMany([request('v8')]), [{ ok: true }])
      t.same(layouts(), ['json'], 'the array while the routine may still be old')
      clock += 60_000
      t.same(await admission.admitMany([request('v8')]), [{ ok: true }])
      t.same(layouts(), ['fields', 'json'], 'a minute later, fields tried again')
      t.equal(await admission.sessions.count({ userId: 'v8' }), 4)
    })
  }

  t.test('every request is checked as admit checks it, before the call', async (t) => {
    const log: Statement[] = []
    const admission = admissionOn({ ...tables, pool: recording(tables.pool, log) })
    await t.rejects(
      admission.admitMany([request('checked'), request('checked', { windowMs: 0 })]),
      TypeError,
    )
    await t.rejects(admission.admitMany([request('checked', { jti: '' })]), TypeError)
    t.equal(log.length, 0)
  })

  t.test(
    'requests without a session, with an expired token, refused by their attempts',
    async (t) => {
      const admission = admissionOn(tables)
      const sessionless = (fields: Partial<AdmitRequest> = {}): AdmitRequest => {
        const { session: _, ...rest } = request('bare', fields)
        return rest
      }
      const bare = sessionless()
      const expired = sessionless({ tokenExpiresAt: Date.now() - 1 })
      const limited = request('bare', { attempts: [{ key: 'connect:ip:bare', limit: 1 }] })
      const answers = await admission.admitMany([bare, expired, limited, limited])
      t.same(answers.slice(0, 3), [{ ok: true }, { ok: true }, { ok: true }])
      t.match(answers[3], { ok: false, reason: 'attempts', key: 'connect:ip:bare' })
      t.equal(await admission.sessions.count({ userId: 'bare' }), 1)
    },
  )

  t.test('a call that fails in a later request keeps nothing of the earlier ones', async (t) => {
    const pool = impatientPool(t, db)
    // PostgreSQL: the routine's lock_timeout is half of timeoutMs.
    const admission = admissionOn({ ...tables, pool, timeoutMs: 2_000 })
    const first = request('rolled-back')
    const second = request('rolled-back-2', { jti: 'held-token' })
    const release = await holdToken(db, tables.prefix, 'held-token')
    try {
      await t.rejects(admission.admitMany([first, second]), {
        message: db.name === 'postgres' ? /lock timeout/ : /Lock wait timeout/,
      })
    } finally {
      await release()
    }
    t.equal(await admission.sessions.count({ userId: 'rolled-back' }), 0, 'no session')
    t.equal(
      (await admission.rateLimits.hit(first.attempts[0]!.key, 100, WINDOW)).remaining,
      99,
      'its attempt not counted',
    )
    t.equal(await admission.tokens.consume(first.jti, first.tokenExpiresAt), true, 'nor its token')
    t.same(await admission.admitMany([second]), [{ ok: true }], 'the held token, once free')
  })

  t.test('a deadlock victim runs again, the whole call; three tries in all', async (t) => {
    const log: Statement[] = []
    let deadlocks = 1
    const pool = recording(tables.pool, log, (sql) =>
      /admit_many/.test(sql) && deadlocks-- > 0 ? 'deadlock' : 'run',
    )
    const admission = admissionOn({ ...tables, pool })
    const requests = [request('victim'), request('victim')]
    t.same(await admission.admitMany(requests), [{ ok: true }, { ok: true }])
    t.equal(calls(log), 2)
    deadlocks = 3
    await t.rejects(admission.admitMany([request('victim')]), { code: /40P01|DEADLOCK/ })
    t.equal(calls(log), 5)
    t.equal(await admission.sessions.count({ userId: 'victim' }), 2)
  })

  t.test('a failure other than a missing routine reaches the caller', async (t) => {
    const pool = recording(tables.pool, [], (sql) => (/admit_many/.test(sql) ? 'fail' : 'run'))
    await t.rejects(admissionOn({ ...tables, pool }).admitMany([request('f')]), /refused/)
  })

  if (db.name === 'postgres') {
    t.test("admissionSynchronousCommit 'off' reaches the batch routine", async (t) => {
      const log: Statement[] = []
      const pool = recording(tables.pool, log)
      const admission = admissionOn({ ...tables, pool, admissionSynchronousCommit: 'off' })
      const one = request('unflushed-many')
      t.same(await admission.admitMany([one, one]), [
        { ok: true },
        { ok: false, reason: 'replayed' },
      ])
      t.equal(log.at(-1)?.values.at(-1), 'unflushed')
      const flushed: Statement[] = []
      const plain = admissionOn({ ...tables, pool: recording(tables.pool, flushed) })
      t.same(await plain.admitMany([request('flushed-many')]), [{ ok: true }])
      t.equal(flushed.at(-1)?.values.at(-1), null, 'by default: flushed')
    })
  }
})
