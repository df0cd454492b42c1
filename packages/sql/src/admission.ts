/**
 * The SQL admission store: a handshake's rate-limit hits, token consume and capped session add in
 * one database round trip (a stored procedure), falling back to the separate stores' calls.
 *
 * @module
 */
import {
  ComposedAdmission,
  positiveInteger,
  type AdmissionStore,
  type AdmitRequest,
  type AdmitResult,
} from '@ws-warden/core/stores'
import {
  admitManyAnswers,
  admitManyParams,
  admitManySql,
  type Answer,
  type Checked,
  type MysqlLayout,
} from './admission-many.js'
import { retryDeadlocks, type Row } from './database.js'
import { digest } from './dialects.js'
import { closer, key, resolve, time, type Resolved } from './options.js'
import type { SqlStoreOptions } from './options.js'
import type { SqlRateLimitStore } from './rate-limits.js'
import { prepareAdd, type Add } from './sessions-add.js'
import type { SqlSessionStore } from './sessions.js'
import type { SqlTokenStore } from './tokens.js'

const admitted: AdmitResult = Object.freeze({ ok: true })
const replayed: AdmitResult = Object.freeze({ ok: false, reason: 'replayed' })
const limits = {
  user: Object.freeze({ ok: false, reason: 'limit', limit: 'user' }),
  ip: Object.freeze({ ok: false, reason: 'limit', limit: 'ip' }),
  total: Object.freeze({ ok: false, reason: 'limit', limit: 'total' }),
} as const satisfies Record<string, AdmitResult>

/**
 * The server's answer when the procedure is not there: PostgreSQL 42883 (or 42601, a syntax
 * error: a server before 11 has no `CALL`), MySQL 1305.
 */
function missingRoutine(error: unknown): boolean {
  const failure = error as { code?: unknown; errno?: unknown } | null
  return failure?.code === '42883' || failure?.code === '42601' || failure?.errno === 1305
}

/**
 * MySQL's answer when a routine before v9 was sent fields: the JSON text it expected is invalid
 * (MariaDB 4038, MySQL 3141). Only a routine created without a strict `sql_mode` answers NULL
 * instead (`admitManyAnswers`).
 */
function invalidJson(error: unknown): boolean {
  const failure = error as { errno?: unknown } | null
  return failure?.errno === 4038 || failure?.errno === 3141
}

/** A request checked as the stores check their arguments; throws a `TypeError` if invalid. */
function check(request: AdmitRequest): Checked {
  return {
    attempts: request.attempts.map(({ key: name, limit }) => ({
      key: key('hit(key)', name),
      limit: positiveInteger('hit(limit)', limit),
    })),
    windowMs: positiveInteger('hit(windowMs)', request.windowMs),
    jti: key('consume(jti)', request.jti),
    expires: time('consume(expiresAt)', request.tokenExpiresAt),
    add: request.session && prepareAdd(request.session.record, request.session.caps),
  }
}

/** A routine's answer for one request as the store answers it. */
function result({ attempts, windowMs }: Checked, now: number, row: Answer): AdmitResult {
  switch (row.answer) {
    case 'ok':
      return admitted
    case 'replayed':
      return replayed
    case 'attempts': {
      const { key: refused } = attempts[Number(row.attempt) - 1] as { key: string }
      // As SqlRateLimitStore: no later than a window from now, and always a little.
      const retryAfterMs = Math.min(windowMs, Math.max(1, Number(row.windowEnds) - now))
      return { ok: false, reason: 'attempts', key: refused, retryAfterMs }
    }
    default:
      return limits[row.answer as keyof typeof limits]
  }
}

/** How long MySQL's admitMany keeps to the JSON array once a routine before v9 refused fields. */
const JSON_FOR_MS = 60_000

/** Options of {@link SqlAdmissionStore}: the three stores it admits into, and their tables. */
export interface SqlAdmissionStoreOptions extends SqlStoreOptions {
  readonly sessions: SqlSessionStore
  readonly tokens: SqlTokenStore
  /** Without `failOpen`: admission counts its attempts in the same transaction, so it fails whole. */
  readonly rateLimits: SqlRateLimitStore
  /**
   * PostgreSQL only. `'off'`: an admission answers without waiting for its commit to be flushed
   * to disk (`synchronous_commit = off` for its transactions), which saves a WAL flush per
   * admission (the most of its latency on one connection). The price is paid only if the
   * database server itself crashes (or its machine does): the admissions of the last moments
   * before (up to three times `wal_writer_delay`, 600 ms by default) are lost although they were
   * answered, their connect attempts and their used token ids with them, so each such token can
   * be used once more, until it expires, and those attempts do not count against their limits.
   * Sessions, soft state, are lost there either way. Requires migration 6; before it, admissions
   * stay flushed.
   * @default 'on'
   */
  readonly admissionSynchronousCommit?: 'on' | 'off' | undefined
}

/**
 * The {@link AdmissionStore} on PostgreSQL or MySQL/MariaDB: an admission is ONE round trip, a
 * `CALL` of the procedure that migration 3 installs (`<prefix>admit`; migrations 5 and 6, and 7
 * on MySQL, renew its body). The whole admission (attempts, token, capped insert, each step as
 * its store runs it) is one transaction, durably committed before the call answers: one commit
 * and one flush, and no row every admission shares is held across the flush (see
 * `admission-sql.ts`). Only when a cap lock is taken do the attempts and the token commit first,
 * and the wait and the insert run in a transaction of their own. On PostgreSQL the `CALL` is a prepared statement, parsed once
 * per connection.
 *
 * Its answers are those of {@link ComposedAdmission} over the same stores (the conformance group
 * checks both), and so is what a failure leaves: a lock wait that gives up in the insert leaves
 * the attempts counted and the token used. On a database not yet migrated to version 3 (the
 * procedure is missing) it falls back to the composed calls.
 *
 * The options must reach the tables of `sessions`, `tokens` and `rateLimits` (the same pool,
 * prefix and schema, as {@link createSqlStores} makes them).
 */
export class SqlAdmissionStore implements AdmissionStore {
  readonly sessions: SqlSessionStore
  readonly tokens: SqlTokenStore
  readonly rateLimits: SqlRateLimitStore
  readonly #s: Resolved
  readonly #composed: ComposedAdmission
  readonly #close: () => Promise<void>
  readonly #sql: string
  /** The name the CALL is prepared under on each connection (unique to its text). */
  readonly #name: string
  readonly #lockWaitMs: number
  /** The input of the routine's `answer` (v6): `unflushed` for `admissionSynchronousCommit: 'off'`. */
  readonly #unflushed: 'unflushed' | null
  readonly #manySql: string
  readonly #manyName: string
  /**
   * Until when (store clock, ms) MySQL's admitMany sends the JSON array: a routine before v9 (a
   * rolling upgrade) refused fields. Then fields are tried again, in case the database was
   * migrated meanwhile.
   */
  #jsonUntil = -Infinity
  /**
   * The most requests one {@link admitMany} call takes: 64. The server runs them one after the
   * other holding what each locked (the session bound's row, the IPs' attempts, every cap lock of
   * the call) until the call commits, so a larger call makes concurrent calls wait longer for
   * little gain (the round trip and the flush are already shared by 64). Far from any parameter
   * limit: the call has 24 parameters on PostgreSQL (arrays) and 4 on MySQL, whose JSON text, a
   * few hundred bytes per request, stays far below max_allowed_packet.
   */
  readonly admitManyLimit = 64

  constructor(options: SqlAdmissionStoreOptions) {
    const { sessions, tokens, rateLimits } = options ?? {}
    if (sessions === undefined || tokens === undefined || rateLimits === undefined) {
      throw new TypeError(
        'ws-warden: SqlAdmissionStore needs the options sessions, tokens and rateLimits',
      )
    }
    const commit = options.admissionSynchronousCommit ?? 'on'
    if (commit !== 'on' && commit !== 'off') {
      throw new TypeError(
        "ws-warden: SqlAdmissionStore option admissionSynchronousCommit must be 'on' or 'off'",
      )
    }
    this.#s = resolve('SqlAdmissionStore', options)
    if (commit === 'off' && this.#s.db.dialect.name !== 'postgres') {
      throw new TypeError(
        'ws-warden: SqlAdmissionStore option admissionSynchronousCommit is for PostgreSQL only',
      )
    }
    this.#unflushed = commit === 'off' ? 'unflushed' : null
    this.sessions = sessions
    this.tokens = tokens
    this.rateLimits = rateLimits
    this.#composed = new ComposedAdmission({ sessions, tokens, rateLimits })
    this.#close = closer(this.#s)
    // As Dialect.begin waits for a cap lock: half of a statement's time.
    this.#lockWaitMs = Math.ceil(this.#s.timeoutMs / 2)
    const { admit } = this.#s.tables
    this.#sql =
      this.#s.db.dialect.name === 'postgres'
        ? `CALL ${admit}(?::bigint, ?::bigint, ?::text[], ?::bigint[], ?::text, ?::bigint, ` +
          '?::text, ?::text, ?::text, ?::text, ?::bigint, ?::bigint, ?::text[], ?::bigint, ' +
          '?::bigint, ?::bigint, ?::bigint[], ?::integer, ?::text, NULL, NULL)'
        : `CALL ${admit}(${Array.from({ length: 18 }, () => '?').join(', ')})`
    this.#name = `wsw_admit_${digest(this.#sql).toString('hex', 0, 12)}`
    this.#manySql = admitManySql(this.#s.db, this.#s.tables.admitMany)
    this.#manyName = `wsw_admit_many_${digest(this.#manySql).toString('hex', 0, 12)}`
  }

  /** Ends the pool if the store created it from `url`; a pool it was given stays open. */
  close(): Promise<void> {
    return this.#close()
  }

  async admit(request: AdmitRequest): Promise<AdmitResult> {
    const checked = check(request)
    const { attempts, windowMs, jti, expires, add } = checked
    const { db } = this.#s
    const now = this.#s.clock.now()
    const params = this.#params(now, windowMs, attempts, jti, expires, add)
    let row: Row
    try {
      // MySQL may choose one of many concurrent claims of a token id as a deadlock's victim, and
      // since admitMany both dialects may (its calls lock rows in request order): the procedure
      // answers a deadlock only for its first transaction, which was rolled back whole, so it
      // runs again.
      const { rows } = await retryDeadlocks(() => db.run(this.#sql, params, this.#name))
      // A CALL answers its SELECT's rows, then the CALL's own status.
      row = (db.dialect.name === 'postgres' ? rows[0] : (rows[0] as unknown as Row[])[0]) as Row
    } catch (error) {
      if (missingRoutine(error)) return this.#composed.admit(request)
      throw error
    }
    const attempt = row.attempt === null ? null : Number(row.attempt)
    const windowEnds = row.window_ends === null ? null : Number(row.window_ends)
    return result(checked, now, { answer: String(row.answer), attempt, windowEnds })
  }

  /**
   * Many admissions in ONE call of migration 7's routine: one round trip, one transaction, one
   * commit (and on PostgreSQL one flush, as `admit`'s), answered as `admit` one request after
   * the other. A failure rolls back the whole call (a deadlock's victim runs again). At most
   * {@link admitManyLimit} requests; each is checked as `admit` checks it, all before the call.
   * On a database not yet at version 7 it runs `admit` for each in turn.
   */
  async admitMany(requests: readonly AdmitRequest[]): Promise<readonly AdmitResult[]> {
    if (requests.length > this.admitManyLimit) {
      throw new RangeError(
        `ws-warden: admitMany takes at most ${this.admitManyLimit} requests, got ${requests.length}`,
      )
    }
    const checked = requests.map(check)
    if (checked.length === 0) return []
    const { db } = this.#s
    const now = this.#s.clock.now()
    const call = async (layout: MysqlLayout) => {
      const params = admitManyParams(db, now, checked, this.#lockWaitMs, this.#unflushed, layout)
      const { rows } = await retryDeadlocks(() => db.run(this.#manySql, params, this.#manyName))
      return admitManyAnswers(db, rows)
    }
    const layout = now < this.#jsonUntil ? 'json' : 'fields'
    let answers: Answer[] | undefined
    try {
      answers = await call(layout).catch((error: unknown) => {
        if (layout === 'fields' && invalidJson(error)) return undefined
        throw error
      })
      if (answers === undefined) {
        this.#jsonUntil = now + JSON_FOR_MS
        answers = await call('json')
      }
    } catch (error) {
      if (missingRoutine(error)) return this.#oneByOne(requests)
      throw error
    }
    if (answers === undefined) throw new Error('ws-warden: admit_many answered no request')
    return answers.map((answer, i) => result(checked[i] as Checked, now, answer))
  }

  async #oneByOne(requests: readonly AdmitRequest[]): Promise<AdmitResult[]> {
    const results: AdmitResult[] = []
    for (const request of requests) results.push(await this.admit(request))
    return results
  }

  /** The routine's arguments, in its order. */
  #params(
    now: number,
    windowMs: number,
    attempts: Checked['attempts'],
    jti: string,
    expires: number,
    add: Add | undefined,
  ): unknown[] {
    const { dialect, namespace } = this.#s.db
    const postgres = dialect.name === 'postgres'
    const cap = (limit: 'user' | 'ip') => add?.checks.find((check) => check.limit === limit)?.cap
    // The locks sessions.add would take, under the same names.
    const locks = dialect.lockKeys(add?.checks.map(({ lock }) => `${namespace}:${lock}`) ?? [])
    const channels = add?.joined ?? []
    const session = add ? add.values : Array.from({ length: 6 }, () => null)
    return [
      now,
      windowMs,
      ...(postgres
        ? [attempts.map((a) => a.key), attempts.map((a) => a.limit)]
        : [JSON.stringify(attempts.map((a) => [a.key, a.limit]))]),
      jti,
      expires,
      ...session,
      postgres ? channels : JSON.stringify(channels),
      cap('user') ?? null,
      cap('ip') ?? null,
      add?.total ?? null,
      ...(postgres
        ? [locks, this.#lockWaitMs, this.#unflushed]
        : [locks[0] ?? null, locks[1] ?? null, this.#lockWaitMs / 1000]),
    ]
  }
}
