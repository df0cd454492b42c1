/**
 * The SQL resume store: resumable sessions as rows (save, update, claim that exactly one caller
 * wins, touch) and the sweep of expired ones.
 *
 * @module
 */
import type { ExpiredSession, ResumableSession, ResumeStore } from '@ws-warden/core/stores'
import { retryDeadlocks, str, type Row } from './database.js'
import {
  closer,
  content,
  isKey,
  key,
  resolve,
  time,
  type Resolved,
  type SqlStoreOptions,
} from './options.js'

const columns = ['id', 'user_id', 'credential_hash', 'state', 'expires_at'] as const

/**
 * The {@link ResumeStore} on PostgreSQL or MySQL/MariaDB: one row per resumable session in
 * `<prefix>resumes`. `save` is an upsert; `update` an `UPDATE … WHERE id`, so a session claimed
 * or swept meanwhile stays gone. `claim` deletes the row only if its id, credential hash and
 * expiry all match, and returns it: on PostgreSQL one `DELETE … RETURNING`, on MySQL a
 * `SELECT … FOR UPDATE` and a `DELETE` in one transaction; so of concurrent claims exactly one
 * gets the session, and a wrong hash changes nothing. `touch` locks its rows in id order (two
 * touches of overlapping ids never deadlock). `sweep` takes expired rows in batches with
 * `FOR UPDATE SKIP LOCKED` and deletes them in the same transaction: concurrent sweeps, on any
 * instance, each get other rows, so every expired session is reported once.
 *
 * The credential hash is compared by the database (`credential_hash = ?`), not in constant time.
 * That is safe here: the value compared is a SHA-256 digest of the user id and the credential,
 * which the caller cannot choose, only the credential it hashes. Timing could at most tell how
 * many leading bytes of a guess's digest match the stored one, and without a preimage of SHA-256
 * that brings no guess closer to the credential (nor is a byte comparison's time measurable
 * through a database round trip). Comparing in the database is what makes the claim a single
 * atomic step that changes nothing when the hash is wrong.
 */
export class SqlResumeStore implements ResumeStore {
  readonly #s: Resolved
  readonly #close: () => Promise<void>

  constructor(options: SqlStoreOptions) {
    this.#s = resolve('SqlResumeStore', options)
    this.#close = closer(this.#s)
  }

  /** Ends the pool if the store created it from `url`; a pool it was given stays open. */
  close(): Promise<void> {
    return this.#close()
  }

  async save(session: ResumableSession): Promise<void> {
    const { db, tables } = this.#s
    await db.run(db.dialect.upsert(tables.resumes, columns), values('save', session))
  }

  async update(session: ResumableSession): Promise<boolean> {
    const [id, ...rest] = values('update', session)
    const { count } = await this.#s.db.run(
      `UPDATE ${this.#s.tables.resumes} SET ${columns
        .slice(1)
        .map((column) => `${column} = ?`)
        .join(', ')} WHERE id = ?`,
      [...rest, id],
    )
    return count > 0
  }

  async claim(id: string, credentialHash: string): Promise<ResumableSession | null> {
    // Ids and hashes come from the client: one that no row can hold is simply not there.
    if (!isKey(id) || !isKey(credentialHash)) return null
    const { db, tables, clock } = this.#s
    const where = 'id = ? AND credential_hash = ? AND expires_at > ?'
    const params = [id, credentialHash, clock.now()]
    let rows: Row[]
    if (db.dialect.name === 'postgres') {
      const sql = `DELETE FROM ${tables.resumes} WHERE ${where} RETURNING ${columns.join(', ')}`
      rows = (await db.run(sql, params)).rows
    } else {
      rows = await db.transaction([], async (run) => {
        const sql = `SELECT ${columns.join(', ')} FROM ${tables.resumes} WHERE ${where} FOR UPDATE`
        const found = (await run(sql, params)).rows
        if (found.length > 0) await run(`DELETE FROM ${tables.resumes} WHERE id = ?`, [id])
        return found
      })
    }
    const row = rows[0]
    if (row === undefined) return null
    return {
      id: str(row.id),
      userId: str(row.user_id),
      credentialHash: str(row.credential_hash),
      state: str(row.state),
      expiresAt: Number(row.expires_at),
    }
  }

  async touch(ids: readonly string[], expiresAt: number): Promise<void> {
    const { db, tables, batchSize } = this.#s
    const when = time('resumes.touch(expiresAt)', expiresAt)
    const valid = ids.map((id) => key('resumes.touch(ids)', id))
    const sql = db.dialect.updateAnyOf(tables.resumes, 'id', 'expires_at = ?')
    for (let i = 0; i < valid.length; i += batchSize) {
      const ids = valid.slice(i, i + batchSize)
      // InnoDB may still pick a touch as a deadlock's victim against a sweep (they also meet on
      // the expires_at index). One statement: run it again.
      await retryDeadlocks(() => db.readCommitted(sql, [when, ids]))
    }
  }

  async remove(id: string): Promise<boolean> {
    const { count } = await this.#s.db.run(`DELETE FROM ${this.#s.tables.resumes} WHERE id = ?`, [
      key('resumes.remove(id)', id),
    ])
    return count > 0
  }

  async sweep(before: number): Promise<ExpiredSession[]> {
    const { db, tables, batchSize, clock } = this.#s
    const bound = Math.min(time('resumes.sweep(before)', before), clock.now() + 1)
    const expired: ExpiredSession[] = []
    for (;;) {
      let batch: Row[]
      try {
        // A batch is one transaction: a deadlock's victim (InnoDB, against a touch) runs again.
        batch = await retryDeadlocks(() =>
          db.transaction([], async (run) => {
            // Rows another sweep holds are skipped: that one reports them. So are rows a touch or a
            // claim holds: once it commits they are live or gone (locked, a row is re-checked).
            const { rows } = await run(
              `SELECT id, user_id, expires_at FROM ${tables.resumes} ` +
                `${db.dialect.byIndex('expires_at_idx')} WHERE expires_at < ? ` +
                `ORDER BY expires_at LIMIT ${batchSize} FOR UPDATE SKIP LOCKED`,
              [bound],
            )
            if (rows.length > 0) {
              const sql = db.dialect.deleteAnyOf(tables.resumes, 'id')
              await run(sql, [rows.map((row) => row.id)])
            }
            return rows
          }),
        )
      } catch (error) {
        // The batches before were removed for good: report them (the next sweep goes on).
        if (expired.length > 0) return expired
        throw error
      }
      for (const row of batch) {
        expired.push({
          id: str(row.id),
          userId: str(row.user_id),
          expiresAt: Number(row.expires_at),
        })
      }
      // Until a batch comes back empty, not merely short: a batch is also short when another
      // sweep holds rows, and that one may stop before the rows it skipped in turn.
      if (batch.length === 0) return expired
    }
  }
}

/** The columns of a valid session, in `columns` order; a `TypeError` naming the field otherwise. */
function values(method: string, session: ResumableSession): [string, ...unknown[]] {
  return [
    key(`resumes.${method}(session.id)`, session?.id),
    key(`resumes.${method}(session.userId)`, session.userId),
    key(`resumes.${method}(session.credentialHash)`, session.credentialHash),
    content(`resumes.${method}(session.state)`, session.state),
    time(`resumes.${method}(session.expiresAt)`, session.expiresAt),
  ]
}
