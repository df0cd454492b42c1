/**
 * The client side of {@link SqlAdmissionStore.admitMany}: the `CALL` of migration 7's routine and
 * its arguments built from the checked requests, and its answer read back.
 *
 * @module
 */
import { mysqlFields } from './admission-many-sql.js'
import type { Database, Row } from './database.js'
import { str } from './database.js'
import type { Add } from './sessions-add.js'

/** One request once checked, as the single `admit` checks it. */
export interface Checked {
  readonly attempts: readonly { readonly key: string; readonly limit: number }[]
  readonly windowMs: number
  readonly jti: string
  readonly expires: number
  readonly add: Add | undefined
}

/** One request's answer from the routine: as the single routine's row. */
export interface Answer {
  readonly answer: string
  readonly attempt: number | null
  readonly windowEnds: number | null
}

/** The `CALL` of `<prefix>admit_many`. */
export function admitManySql(db: Database, table: string): string {
  return db.dialect.name === 'postgres'
    ? `CALL ${table}(?::bigint, ?::bigint[], ?::integer[], ?::text[], ?::bigint[], ?::text[], ` +
        '?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ' +
        '?::integer[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ' +
        '?::integer, ?::text, NULL, NULL, NULL)'
    : `CALL ${table}(?, ?, ?, ?)`
}

const cap = (add: Add | undefined, limit: 'user' | 'ip') =>
  add?.checks.find((check) => check.limit === limit)?.cap ?? null

/** Every cap lock of the call, each once, in the order `Dialect.begin` takes them. */
function locks(db: Database, checked: readonly Checked[]): string[] {
  const names = checked.flatMap(({ add }) =>
    (add?.checks ?? []).map(({ lock }) => `${db.namespace}:${lock}`),
  )
  return db.dialect.lockKeys([...new Set(names)])
}

/**
 * How MySQL's requests are written: `fields` (v9's routine reads them fastest), or `json`, the
 * array the routines before v9 read (v9's still does).
 */
export type MysqlLayout = 'fields' | 'json'

/**
 * The routine's arguments. PostgreSQL: parallel arrays, the attempts and channels flattened
 * (typed arrays, nothing to parse on the server). MySQL: the requests as fields, or as one JSON
 * array, one request per line (admission-many-sql.ts).
 */
export function admitManyParams(
  db: Database,
  now: number,
  checked: readonly Checked[],
  lockWaitMs: number,
  unflushed: 'unflushed' | null,
  layout: MysqlLayout = 'fields',
): unknown[] {
  if (db.dialect.name === 'mysql') {
    return [
      now,
      layout === 'fields'
        ? `v9${checked.map(fields).join('')}`
        : `[${checked.map((c) => JSON.stringify(mysqlRequest(c))).join(',\n')}]`,
      JSON.stringify(locks(db, checked)),
      lockWaitMs / 1000,
    ]
  }
  const column = <T>(f: (c: Checked) => T) => checked.map(f)
  const session = (i: number) => column(({ add }) => (add ? add.values[i] : null))
  return [
    now,
    column((c) => c.windowMs),
    column((c) => c.attempts.length),
    checked.flatMap((c) => c.attempts.map((a) => a.key)),
    checked.flatMap((c) => c.attempts.map((a) => a.limit)),
    column((c) => c.jti),
    column((c) => c.expires),
    ...[0, 1, 2, 3, 4, 5].map(session),
    column((c) => c.add?.joined.length ?? 0),
    checked.flatMap((c) => c.add?.joined ?? []),
    column((c) => cap(c.add, 'user')),
    column((c) => cap(c.add, 'ip')),
    column((c) => c.add?.total ?? null),
    locks(db, checked),
    lockWaitMs,
    unflushed,
  ]
}

/** One request as the MySQL routine reads it: short keys, a null left out. */
function mysqlRequest(c: Checked): Record<string, unknown> {
  const request: Record<string, unknown> = {
    w: c.windowMs,
    a: c.attempts.map((a) => [a.key, a.limit]),
    j: c.jti,
    e: c.expires,
  }
  const { add } = c
  if (add === undefined) return request
  const [i, u, n, p, cAt, s] = add.values
  return {
    ...request,
    i,
    u,
    n,
    p,
    c: cAt,
    s,
    h: add.joined,
    pu: cap(add, 'user') ?? undefined,
    pi: cap(add, 'ip') ?? undefined,
    t: add.total ?? undefined,
  }
}

/** One request's fields, in the order of `mysqlFields`, each after a NUL, a null left empty. */
function fields(c: Checked): string {
  const request = mysqlRequest(c)
  return mysqlFields
    .map(({ key, kind }) => {
      const value = request[key]
      if (value === undefined) return '\0'
      return `\0${kind === 'json' ? JSON.stringify(value) : String(value)}`
    })
    .join('')
}

const number = (value: unknown): number | null =>
  value === null || value === '' ? null : Number(value)

/**
 * The routine's answers, one per request; `undefined` when a MySQL routine before v9 read no
 * request (it was sent fields: the caller sends the JSON array instead).
 */
export function admitManyAnswers(db: Database, rows: Row[]): Answer[] | undefined {
  if (db.dialect.name === 'postgres') {
    const row = rows[0] as Row
    const answers = row.answers as string[]
    const refused = row.refused as (number | null)[]
    const ends = row.windows_end as (string | null)[]
    return answers.map((answer, i) => ({
      answer,
      attempt: number(refused[i]),
      windowEnds: number(ends[i]),
    }))
  }
  // A CALL answers its SELECT's rows, then the CALL's own status.
  const row = (rows[0] as unknown as Row[])[0] as Row
  if (row.answers === null) return undefined
  return str(row.answers)
    .split(',')
    .map((entry) => {
      const [answer, attempt, ends] = entry.split(':') as [string, string, string]
      return { answer, attempt: number(attempt), windowEnds: number(ends) }
    })
}
