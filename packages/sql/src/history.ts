/**
 * The SQL history store: per-stream consecutive sequence numbers and bounded, expiring entries for
 * resumption, the replay with what it misses, and the sweep of expired entries and idle streams.
 *
 * @module
 */
import {
  countOption,
  positiveInteger,
  type HistoryEntry,
  type HistoryLimits,
  type HistoryRead,
  type HistoryStore,
} from '@ws-warden/core/stores'
import { retryDeadlocks, str, type Row, type Run } from './database.js'
import {
  closer,
  content,
  key,
  resolve,
  time,
  type Resolved,
  type SqlStoreOptions,
} from './options.js'

/** Options of {@link SqlHistoryStore}. */
export interface SqlHistoryStoreOptions extends SqlStoreOptions {
  /**
   * How long `sweep` keeps a stream's record (its last seq) once the stream's newest entry has
   * expired. Past it the record is deleted and the store-wide floor raised to its last seq, so a
   * later append to the stream still gets a higher seq; but a session resuming it from an old
   * position is then told its replay may be incomplete.
   * @default 86400000 (a day)
   */
  readonly streamRetentionMs?: number | undefined
}

/** Where a new stream starts: the `history` row of `<prefix>counters`. */
const FLOOR = "name = 'history'"

/** A row of the read query, as the driver returns it. */
interface ReadRow extends Row {
  base_seq: unknown
  last_seq: unknown
  floor_seq: unknown
  seq: unknown
  frame: unknown
  except_ids: unknown
}

/**
 * The {@link HistoryStore} on PostgreSQL or MySQL/MariaDB. Entries are rows of
 * `<prefix>history`, keyed by stream and seq; each stream has a row in `<prefix>streams` with
 * the last seq it handed out.
 *
 * `append` raises that row's `last_seq` by one and inserts the entry in the same transaction, so
 * the row lock makes appends to one stream take turns: a seq is handed out only once the one
 * before it is committed (visible in seq order), and a stream's seqs are consecutive. It also
 * deletes the entries that fall out of `maxLength`. On PostgreSQL that is one statement; on
 * MySQL a transaction of three. `read` is one statement (one snapshot): since the seqs of a
 * stream are consecutive, the replay is complete exactly when it holds every seq from `afterSeq`
 * to the last one, unexpired; an entry trimmed, expired or swept is a missing seq. `sweep`
 * deletes expired entries in batches, then forgets streams idle past `streamRetentionMs`: the
 * store-wide floor in `<prefix>counters` is raised to their last seq, and a stream appended to
 * again starts above it.
 */
export class SqlHistoryStore implements HistoryStore {
  readonly #s: Resolved
  readonly #close: () => Promise<void>
  readonly #retentionMs: number

  constructor(options: SqlHistoryStoreOptions) {
    const owner = 'SqlHistoryStore'
    this.#retentionMs = countOption(
      owner,
      'streamRetentionMs',
      options?.streamRetentionMs,
      86_400_000,
    )
    this.#s = resolve(owner, options)
    this.#close = closer(this.#s)
  }

  /** Ends the pool if the store created it from `url`; a pool it was given stays open. */
  close(): Promise<void> {
    return this.#close()
  }

  async append(
    stream: string,
    frame: string,
    limits: HistoryLimits,
    except?: readonly string[],
  ): Promise<number> {
    const name = key('history.append(stream)', stream)
    const text = content('history.append(frame)', frame)
    const maxLength = positiveInteger('history.append(limits.maxLength)', limits?.maxLength)
    const ttlMs = positiveInteger('history.append(limits.ttlMs)', limits?.ttlMs)
    const { db, clock } = this.#s
    const entry: Entry = {
      stream: name,
      frame: text,
      except: exceptIds(except),
      maxLength,
      expiresAt: clock.now() + ttlMs,
    }
    // A stream that has a row: on PostgreSQL one statement, outside any transaction (a deadlock's
    // victim, rolled back whole, runs again as the transaction below does).
    if (db.dialect.name === 'postgres') {
      const seq = await retryDeadlocks(() => this.#write(db.run, entry, undefined))
      if (seq !== undefined) return seq
    }
    return retryDeadlocks(() =>
      db.transaction([], async (run) => {
        const seq = db.dialect.name === 'postgres' ? undefined : await this.#write(run, entry)
        return seq ?? ((await this.#write(run, entry, await this.#floor(run))) as number)
      }),
    )
  }

  async read(stream: string, afterSeq: number): Promise<HistoryRead> {
    const name = key('history.read(stream)', stream)
    if (typeof afterSeq !== 'number' || !Number.isSafeInteger(afterSeq) || afterSeq < 0) {
      throw new TypeError('ws-warden: history.read(afterSeq) must be a non-negative integer')
    }
    const { db, tables, clock } = this.#s
    const { rows } = await db.run(
      'SELECT s.base_seq, s.last_seq, ' +
        `COALESCE((SELECT value FROM ${tables.counters} WHERE ${FLOOR}), 0) AS floor_seq, ` +
        'h.seq, h.frame, h.except_ids FROM (SELECT 1 AS one) o ' +
        `LEFT JOIN ${tables.streams} s ON s.stream = ? ` +
        `LEFT JOIN ${tables.history} h ON h.stream = s.stream AND h.seq > ? ` +
        'AND h.seq > s.base_seq AND h.expires_at > ? ORDER BY h.seq',
      [name, afterSeq, clock.now()],
    )
    const first = rows[0] as ReadRow
    // An unknown stream: forgotten (or never appended to). Its seqs were at most the floor.
    if (first.last_seq === null) {
      return { entries: [], complete: afterSeq >= Number(first.floor_seq) }
    }
    const entries = (rows as ReadRow[])
      .filter((row) => row.seq !== null)
      .map((row): HistoryEntry => {
        const seq = Number(row.seq)
        const frame = str(row.frame)
        if (row.except_ids === null) return { seq, frame }
        return { seq, frame, except: JSON.parse(str(row.except_ids)) as string[] }
      })
    // Seqs below the row's base belonged to a forgotten row of the stream: lost, as far as
    // anyone can tell. Above it they are consecutive: every one missing was dropped.
    const expected = Math.max(0, Number(first.last_seq) - afterSeq)
    const complete = afterSeq >= Number(first.base_seq) && entries.length === expected
    return { entries, complete }
  }

  async head(stream: string): Promise<number> {
    const name = key('history.head(stream)', stream)
    const { db, tables } = this.#s
    const { rows } = await db.run(
      `SELECT COALESCE((SELECT last_seq FROM ${tables.streams} WHERE stream = ?), ` +
        `(SELECT value FROM ${tables.counters} WHERE ${FLOOR}), 0) AS head`,
      [name],
    )
    return Number((rows[0] as Row).head)
  }

  async sweep(before: number): Promise<number> {
    const { db, tables, batchSize, clock } = this.#s
    const bound = Math.min(time('history.sweep(before)', before), clock.now() + 1)
    const removed = await db.sweep(
      tables.history,
      'stream, seq',
      'expires_at < ?',
      [bound],
      batchSize,
    )
    await this.#forget(bound - this.#retentionMs)
    return removed
  }

  /**
   * Raises the stream's `last_seq` by one (inserting its row, starting above `floor`, when
   * `floor` is given), inserts the entry under it and deletes what falls out of `maxLength`.
   * Resolves the seq, or undefined when the stream has no row and `floor` was not given.
   */
  async #write(run: Run, entry: Entry, floor?: number): Promise<number | undefined> {
    const { db, tables } = this.#s
    const { stream, frame, except, maxLength, expiresAt } = entry
    if (db.dialect.name === 'postgres') {
      // Data-modifying CTEs run once each, all in one snapshot and one transaction. The trim skips
      // rows a sweep holds (it deletes them anyway): an append never waits for a sweep.
      const bump =
        floor === undefined
          ? `UPDATE ${tables.streams} SET last_seq = last_seq + 1, ` +
            'expires_at = GREATEST(expires_at, ?::bigint) WHERE stream = ? RETURNING last_seq'
          : `INSERT INTO ${tables.streams} AS r (stream, base_seq, last_seq, expires_at) ` +
            'VALUES (?, ?::bigint, ?::bigint + 1, ?::bigint) ON CONFLICT (stream) DO UPDATE SET ' +
            'last_seq = r.last_seq + 1, expires_at = GREATEST(r.expires_at, EXCLUDED.expires_at) ' +
            'RETURNING last_seq'
      const { rows } = await run(
        `WITH s AS (${bump}), ` +
          `e AS (INSERT INTO ${tables.history} (stream, seq, frame, except_ids, expires_at) ` +
          'SELECT ?, last_seq, ?, ?, ?::bigint FROM s), ' +
          `t AS (DELETE FROM ${tables.history} WHERE stream = ? AND seq IN (SELECT seq FROM ` +
          `${tables.history} WHERE stream = ? AND seq <= (SELECT last_seq FROM s) - ?::bigint ` +
          'FOR UPDATE SKIP LOCKED)) SELECT last_seq FROM s',
        [
          ...(floor === undefined ? [expiresAt, stream] : [stream, floor, floor, expiresAt]),
          ...[stream, frame, except, expiresAt, stream, stream, maxLength],
        ],
      )
      return rows.length === 0 ? undefined : Number((rows[0] as Row).last_seq)
    }
    // MySQL: the new last_seq comes back as the insert id (LAST_INSERT_ID(expr)). Assignments
    // run left to right, so `expires_at` is set before `last_seq`.
    let seq: number
    if (floor === undefined) {
      const { count, insertId } = await run(
        `UPDATE ${tables.streams} SET expires_at = GREATEST(expires_at, ?), ` +
          'last_seq = LAST_INSERT_ID(last_seq + 1) WHERE stream = ?',
        [expiresAt, stream],
      )
      if (count === 0) return undefined
      seq = insertId
    } else {
      const { count, insertId } = await run(
        `INSERT INTO ${tables.streams} (stream, base_seq, last_seq, expires_at) ` +
          'VALUES (?, ?, ?, ?) ' +
          'ON DUPLICATE KEY UPDATE expires_at = GREATEST(expires_at, VALUES(expires_at)), ' +
          'last_seq = LAST_INSERT_ID(last_seq + 1)',
        [stream, floor, floor + 1, expiresAt],
      )
      // One affected row is a new row; two, an existing one raised.
      seq = count === 1 ? floor + 1 : insertId
    }
    // The trim first: the entry's rows are then locked in key order, as a sweep's scan locks them.
    await run(`DELETE FROM ${tables.history} WHERE stream = ? AND seq <= ?`, [
      stream,
      seq - maxLength,
    ])
    await run(
      `INSERT INTO ${tables.history} (stream, seq, frame, except_ids, expires_at) ` +
        'VALUES (?, ?, ?, ?, ?)',
      [stream, seq, frame, except, expiresAt],
    )
    return seq
  }

  /**
   * The floor a new stream starts above, under a shared lock that keeps {@link #forget} from
   * raising it until this transaction ends (appends to new streams do not wait for each other).
   */
  async #floor(run: Run): Promise<number> {
    const { db, tables } = this.#s
    const sql = `SELECT value FROM ${tables.counters} WHERE ${FLOOR} ${db.dialect.forShare}`
    const { rows } = await run(sql)
    // The row is made by `migrate`; one deleted by hand is made again (at 0: see the README).
    return rows.length > 0 ? Number((rows[0] as Row).value) : this.#lockFloor(run)
  }

  /** Locks the floor's row exclusively (making it if missing) and resolves its value. */
  async #lockFloor(run: Run): Promise<number> {
    const { db, tables } = this.#s
    await run(db.dialect.insertOrLock(tables.counters, ['name', 'value']), ['history', 0])
    const { rows } = await run(`SELECT value FROM ${tables.counters} WHERE ${FLOOR}`)
    return Number((rows[0] as Row).value)
  }

  /**
   * Deletes the rows of streams whose newest entry expired before `cutoff`, in batches, and
   * raises the floor to their last seq in the same transaction. The floor's exclusive lock waits
   * for every append that is creating a stream; a stream being appended to is skipped (its row
   * is locked) and, once the append commits, is no longer idle.
   *
   * On InnoDB a batch can still deadlock with an append: the skipped stream's `expires_at_idx`
   * entry stays locked by the scan, which the append's `UPDATE` then waits for, while the batch's
   * `DELETE` waits for that stream's row. A batch is one transaction that chooses its rows
   * afresh, so a victim (rolled back whole) is simply run again.
   */
  async #forget(cutoff: number): Promise<void> {
    const { db, tables, batchSize } = this.#s
    for (;;) {
      const forgotten = await retryDeadlocks(() =>
        db.transaction([], async (run) => {
          await this.#lockFloor(run)
          const { rows } = await run(
            `SELECT stream, last_seq FROM ${tables.streams} ` +
              `${db.dialect.byIndex('expires_at_idx')} WHERE expires_at < ? ` +
              `ORDER BY expires_at LIMIT ${batchSize} FOR UPDATE SKIP LOCKED`,
            [cutoff],
          )
          if (rows.length === 0) return 0
          const top = Math.max(...rows.map((row) => Number(row.last_seq)))
          const streams = rows.map((row) => row.stream)
          await run(db.dialect.deleteAnyOf(tables.streams, 'stream'), [streams])
          await run(`UPDATE ${tables.counters} SET value = GREATEST(value, ?) WHERE ${FLOOR}`, [
            top,
          ])
          return rows.length
        }),
      )
      if (forgotten < batchSize) return
    }
  }
}

/** An entry on its way in. */
interface Entry {
  readonly stream: string
  readonly frame: string
  /** The except list as JSON, or null for none. */
  readonly except: string | null
  readonly maxLength: number
  readonly expiresAt: number
}

/** The except list as stored: JSON text, or null when there is none. */
function exceptIds(except: readonly string[] | undefined): string | null {
  if (except === undefined) return null
  if (!Array.isArray(except) || except.some((id) => typeof id !== 'string')) {
    throw new TypeError('ws-warden: history.append(except) must be an array of strings')
  }
  return except.length === 0 ? null : JSON.stringify(except)
}
