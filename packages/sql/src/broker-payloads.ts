/**
 * The PostgreSQL broker's payloads: how one travels in a NOTIFY (as it is, or as the id of a row
 * of `<prefix>broker_payloads` when it is too large), the writes and reads of that table, and the
 * retention sweep of its rows.
 *
 * @module
 */
import type { Clock } from '@ws-warden/core'
import type { Database } from './database.js'
import { time } from './options.js'

/**
 * The largest payload sent inside the NOTIFY itself (PostgreSQL wants NOTIFY payloads shorter
 * than 8000 bytes). Larger ones are stored in `<prefix>broker_payloads` and the NOTIFY carries
 * the row's id.
 */
export const MAX_INLINE_BYTES = 7999

/**
 * The first character of a NOTIFY that is not the payload as is: followed by a second one, the
 * payload (which itself began with this character); followed by digits, a stored payload's id.
 */
const MARK = '\u0001'

/** PostgreSQL's `undefined_table`: `migrate` did not run for the broker's prefix and schema. */
const UNDEFINED_TABLE = '42P01'

/** `publish` was given a payload over the broker's `maxPayloadBytes`. */
export class PayloadTooLargeError extends Error {
  /** The payload's size in UTF-8 bytes. */
  readonly bytes: number
  /** The broker's `maxPayloadBytes`. */
  readonly limit: number

  constructor(bytes: number, limit: number) {
    super(
      `ws-warden: PostgresBroker payloads must be at most ${limit} bytes (option ` +
        `maxPayloadBytes), got ${bytes}`,
    )
    this.name = 'PayloadTooLargeError'
    this.bytes = bytes
    this.limit = limit
  }
}

/** What a NOTIFY carries: a payload, or a stored payload's id; neither when it is malformed. */
export function decode(message: string): { payload: string | undefined; id: string | undefined } {
  if (!message.startsWith(MARK)) return { payload: message, id: undefined }
  if (message.startsWith(MARK, 1)) return { payload: message.slice(1), id: undefined }
  const id = message.slice(1)
  return { payload: undefined, id: /^[0-9]{1,19}$/.test(id) ? id : undefined }
}

/** What {@link PayloadTable} works with. */
export interface PayloadTableOptions {
  readonly db: Database
  /** The quoted, qualified name of `<prefix>broker_payloads`. */
  readonly table: string
  readonly clock: Clock
  /** Rows per statement when sweeping. */
  readonly batchSize: number
  /** How long a stored payload is kept. */
  readonly retentionMs: number
  /** How often the stored payloads older than `retentionMs` are deleted, or never. */
  readonly sweepIntervalMs: number | false
  /** Where a failed sweep is reported. */
  readonly report: (error: unknown) => void
}

/**
 * The broker's sends (inline NOTIFY, or a stored row plus a NOTIFY of its id in one statement),
 * its reads of stored payloads, and the sweep that deletes them once older than `retentionMs`.
 */
export class PayloadTable {
  readonly #db: Database
  readonly #table: string
  readonly #clock: Clock
  readonly #batchSize: number
  readonly #retentionMs: number
  readonly #report: (error: unknown) => void
  readonly #sweeper: NodeJS.Timeout | undefined
  #sweeping = false

  constructor(options: PayloadTableOptions) {
    this.#db = options.db
    this.#table = options.table
    this.#clock = options.clock
    this.#batchSize = options.batchSize
    this.#retentionMs = options.retentionMs
    this.#report = options.report
    const { sweepIntervalMs } = options
    if (sweepIntervalMs !== false) {
      this.#sweeper = setInterval(() => void this.#sweepRetained(), sweepIntervalMs).unref()
    }
  }

  /** Stops the periodic sweep. */
  close(): void {
    clearInterval(this.#sweeper)
  }

  /** Sends `payload` (`bytes` long) on `channel`: resolves once its NOTIFY committed. */
  async send(channel: string, payload: string, bytes: number): Promise<void> {
    const marked = payload.startsWith(MARK)
    if (bytes + (marked ? 1 : 0) <= MAX_INLINE_BYTES) {
      await this.#db.run('SELECT pg_notify(?, ?)', [channel, marked ? MARK + payload : payload])
      return
    }
    // One statement, so one transaction: the row and its NOTIFY commit together, and the row is
    // visible to every listener before the NOTIFY reaches it (notifications go out on commit).
    // Its commit is not waited for on disk (`synchronous_commit` off for this transaction only):
    // visible at once, lost only if the server crashes right after, when the NOTIFY (which is
    // never written to disk) is lost as well.
    await this.#db
      .run(
        `WITH stored AS (INSERT INTO ${this.#table} (created_at, payload) VALUES (?, ?) ` +
          "RETURNING id) SELECT set_config('synchronous_commit', 'off', true), " +
          'pg_notify(?, ?::text || stored.id::text) FROM stored',
        [this.#clock.now(), payload, channel, MARK],
      )
      .catch(this.#missingTable)
  }

  /** The stored payloads of `ids` that are still there, by id. */
  fetch(ids: readonly string[]): Promise<Map<string, string>> {
    return this.#db
      .run(`SELECT id, payload FROM ${this.#table} WHERE id = ANY(?::bigint[])`, [ids])
      .then(({ rows }) => new Map(rows.map((row) => [String(row.id), String(row.payload)])))
      .catch(this.#missingTable)
  }

  /** Deletes the stored payloads created before `before` (epoch ms), in batches; resolves how many. */
  async sweep(before: number): Promise<number> {
    const bound = time('broker.sweep(before)', before)
    return this.#db
      .sweep(this.#table, 'id', 'created_at < ?', [bound], this.#batchSize)
      .catch(this.#missingTable)
  }

  /** `error`, or a clearer one when it says that the payloads table is missing. */
  #explain(error: unknown): unknown {
    if ((error as { code?: unknown } | null)?.code !== UNDEFINED_TABLE) return error
    return new Error(
      `ws-warden: PostgresBroker needs the table ${this.#table} for payloads over ` +
        `${MAX_INLINE_BYTES} bytes: run migrate() with the broker's prefix and schema`,
      { cause: error },
    )
  }

  #missingTable = (error: unknown): never => {
    throw this.#explain(error)
  }

  async #sweepRetained(): Promise<void> {
    // A sweep slower than the interval is not overtaken by the next one.
    if (this.#sweeping) return
    this.#sweeping = true
    try {
      await this.sweep(this.#clock.now() - this.#retentionMs)
    } catch (error) {
      this.#report(error)
    } finally {
      this.#sweeping = false
    }
  }
}
