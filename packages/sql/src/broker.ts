/**
 * The PostgreSQL broker, {@link PostgresBroker}: its options, its lifecycle (construction,
 * `close`), topics as channel names, publishing in call order, and subscriptions. The LISTEN
 * connection is in `broker-listen.ts`, the delivery of what it hears in `broker-inbox.ts`, the
 * payloads and their table in `broker-payloads.ts`.
 *
 * @module
 */
import type { Clock } from '@ws-warden/core'
import { countOption, onErrorOption, type Broker, type BrokerHandler } from '@ws-warden/core/stores'
import { Inbox, type Channel, type Subscription } from './broker-inbox.js'
import { ListenConnection } from './broker-listen.js'
import { PayloadTable, PayloadTooLargeError } from './broker-payloads.js'
import type { Database, PgPool } from './database.js'
import { digest } from './dialects.js'
import { resolve } from './options.js'

/** PostgreSQL truncates identifiers, channel names included, to 63 bytes. */
const MAX_CHANNEL_BYTES = 63

/** Options of {@link PostgresBroker}. */
export interface PostgresBrokerOptions {
  /** Your `pg.Pool`: the broker takes one client from it for LISTEN and never ends it. */
  readonly pool?: PgPool | undefined
  /** A `postgres://` URL: the broker creates its own pool and ends it in `close()`. */
  readonly url?: string | undefined
  /**
   * Prepended to every channel name, and to the name of the table of large payloads. Channels
   * are database-wide (not per schema): brokers that should not hear each other need different
   * prefixes.
   * @default 'ws_warden_'
   */
  readonly prefix?: string | undefined
  /**
   * The schema of the table of large payloads, `<prefix>broker_payloads` (made by
   * `migrate` with the same prefix and schema).
   * @default unqualified, resolved through the connection's `search_path`
   */
  readonly schema?: string | undefined
  /**
   * How long a NOTIFY, a LISTEN, a fetch of stored payloads or a health check may take.
   * @default 5000
   */
  readonly timeoutMs?: number | undefined
  /**
   * The largest payload `publish` takes, in UTF-8 bytes; larger ones are refused with
   * {@link PayloadTooLargeError} before anything is sent.
   * @default 16777216 (16 MiB)
   */
  readonly maxPayloadBytes?: number | undefined
  /**
   * How long a stored payload (one over {@link MAX_INLINE_BYTES}) is kept for the listeners to
   * fetch; the sweep deletes older ones. Listeners fetch as soon as the NOTIFY arrives: this only
   * has to outlast a listener that is slow to read its notifications.
   * @default 60000
   */
  readonly retentionMs?: number | undefined
  /**
   * How often the broker deletes stored payloads older than `retentionMs` (see `sweep`), or
   * `false` when something else calls `sweep`.
   * @default 30000
   */
  readonly sweepIntervalMs?: number | false | undefined
  /**
   * Pause before reconnecting the LISTEN connection after it was lost (jittered by up to half).
   * @default 1000
   */
  readonly reconnectDelayMs?: number | undefined
  /**
   * How often the LISTEN connection is checked with `SELECT 1`, so that a silently dead one
   * (a network partition) is replaced.
   * @default 30000
   */
  readonly healthCheckMs?: number | undefined
  /** Where the stored payloads' creation times come from. @default Date */
  readonly clock?: Clock | undefined
  /**
   * Receives what went wrong in the background: a lost connection, a failed reconnect, a
   * handler that threw (with its topic), a stored payload that could not be fetched (with its
   * topic), a failed sweep. The broker never throws these.
   * @default errors are ignored
   */
  readonly onError?: ((error: unknown, topic?: string) => void) | undefined
}

/**
 * A {@link Broker} over PostgreSQL `LISTEN/NOTIFY`, so that instances sharing only a PostgreSQL
 * database can fan out to each other. Payloads of up to {@link MAX_INLINE_BYTES} bytes travel in
 * the NOTIFY; a larger one is inserted into `<prefix>broker_payloads` by the same statement that
 * sends a NOTIFY with the row's id, so both commit together or not at all. `publish` resolves
 * once that statement committed, and rejects if it did not; publishes go out one after the
 * other, in the order `publish` was called. Subscriptions share one dedicated connection that
 * LISTENs on `<prefix><topic>` (hashed when longer than PostgreSQL's 63-byte limit); stored
 * payloads are fetched on the pool, those that arrived together in one statement, and handed to
 * the handlers in the order the notifications came. Stored payloads are deleted once older than
 * `retentionMs` by a sweep every `sweepIntervalMs`. When the LISTEN connection is lost the broker
 * reports it to `onError`, reconnects and LISTENs again on every channel; payloads published in
 * between are not delivered (at most once, like Redis pub/sub).
 */
export class PostgresBroker implements Broker {
  readonly #db: Database
  readonly #owned: boolean
  readonly #prefix: string
  readonly #timeoutMs: number
  readonly #maxPayloadBytes: number
  readonly #onError: ((error: unknown, topic?: string) => void) | undefined
  readonly #channels = new Map<string, Channel>()
  readonly #listener: ListenConnection
  readonly #payloads: PayloadTable
  readonly #inbox: Inbox
  /** Settles once the last publish called so far has finished (either way). */
  #sending: Promise<void> = Promise.resolve()
  /** Publishes called and not finished. */
  #publishing = 0
  #closed = false

  constructor(options: PostgresBrokerOptions) {
    // The broker's own options first, as the stores read theirs: a refused one opens no pool.
    const owner = 'PostgresBroker'
    const given = options ?? {}
    const maxPayloadBytes = countOption(owner, 'maxPayloadBytes', given.maxPayloadBytes, 16_777_216)
    const retentionMs = countOption(owner, 'retentionMs', given.retentionMs, 60_000)
    const reconnectDelayMs = countOption(owner, 'reconnectDelayMs', given.reconnectDelayMs, 1_000)
    const healthCheckMs = countOption(owner, 'healthCheckMs', given.healthCheckMs, 30_000)
    const sweepIntervalMs =
      given.sweepIntervalMs === false
        ? false
        : countOption(owner, 'sweepIntervalMs', given.sweepIntervalMs, 30_000)
    const onError = onErrorOption(owner, given.onError)
    const resolved = resolve(owner, options)
    const { db, owned } = resolved
    if (db.dialect.name !== 'postgres') {
      // A pool made from a mysql:// url: the broker made it, so it ends it.
      if (owned) void db.end().catch(() => {})
      throw new TypeError('ws-warden: PostgresBroker needs a pg.Pool or a postgres:// url')
    }
    this.#db = db
    this.#owned = owned
    this.#prefix = resolved.prefix
    this.#timeoutMs = resolved.timeoutMs
    this.#maxPayloadBytes = maxPayloadBytes
    this.#onError = onError
    this.#listener = new ListenConnection({
      pool: db.dialect.pool as PgPool,
      timeoutMs: resolved.timeoutMs,
      reconnectDelayMs,
      healthCheckMs,
      channels: this.#channels,
      received: (name, message) => this.#inbox.received(name, message),
      report: this.#report,
    })
    this.#payloads = new PayloadTable({
      db,
      table: resolved.tables.brokerPayloads,
      clock: resolved.clock,
      batchSize: resolved.batchSize,
      retentionMs,
      sweepIntervalMs,
      report: this.#report,
    })
    this.#inbox = new Inbox(this.#channels, this.#payloads, this.#report)
  }

  /** The channel a topic travels on. */
  channel(topic: string): string {
    const name = this.#prefix + topic
    if (Buffer.byteLength(name) <= MAX_CHANNEL_BYTES && !name.includes('\0')) return name
    const hash = digest(topic).toString('base64url')
    return `${this.#prefix}#${hash}`.slice(0, MAX_CHANNEL_BYTES)
  }

  /**
   * Sends `payload` to every subscriber of `topic`, on every instance. Resolves once the NOTIFY
   * (with, for a large payload, its row) committed; rejects when it did not, and then nothing
   * was sent. Waits for the publishes called before it, so that they arrive in call order, for
   * `timeoutMs` at most (then it rejects, unsent).
   */
  async publish(topic: string, payload: string): Promise<void> {
    if (typeof payload !== 'string')
      throw new TypeError('ws-warden: publish(payload) must be a string')
    const bytes = Buffer.byteLength(payload)
    if (bytes > this.#maxPayloadBytes) throw new PayloadTooLargeError(bytes, this.#maxPayloadBytes)
    const channel = this.channel(topic)
    const before = this.#sending
    let done!: () => void
    this.#sending = new Promise<void>((resolve) => (done = resolve))
    try {
      if (this.#publishing++ > 0) await this.#turn(before)
      await this.#payloads.send(channel, payload, bytes)
    } finally {
      this.#publishing--
      done()
    }
  }

  /** Waits for the publishes called before, for `timeoutMs` at most: then gives up, unsent. */
  async #turn(before: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      const error = new Error(
        `ws-warden: PostgresBroker publish waited ${this.#timeoutMs} ms for the publishes ` +
          'before it, and was not sent',
      )
      timer = setTimeout(() => reject(error), this.#timeoutMs)
    })
    try {
      await Promise.race([before, late])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Deletes the stored payloads created before `before` (epoch ms), in batches; resolves how
   * many. The broker calls it every `sweepIntervalMs` with `now - retentionMs`.
   */
  sweep(before: number): Promise<number> {
    return this.#payloads.sweep(before)
  }

  async subscribe(topic: string, handler: BrokerHandler): Promise<() => Promise<void>> {
    if (typeof handler !== 'function') {
      throw new TypeError('ws-warden: subscribe(handler) must be a function')
    }
    if (this.#closed) throw new Error('ws-warden: PostgresBroker is closed')
    const name = this.channel(topic)
    const subscription: Subscription = { topic, handler }
    let channel = this.#channels.get(name)
    if (channel === undefined) {
      const created: Channel = { subscriptions: new Set(), listening: Promise.resolve() }
      created.listening = this.#listener.listen(name)
      this.#channels.set(name, (channel = created))
    }
    channel.subscriptions.add(subscription)
    const unsubscribe = async () => {
      if (!channel.subscriptions.delete(subscription) || channel.subscriptions.size > 0) return
      if (this.#channels.get(name) === channel) this.#channels.delete(name)
      const unlistened = this.#listener.unlisten(name)
      if (unlistened !== undefined) await unlistened
    }
    try {
      await channel.listening
    } catch (error) {
      await unsubscribe()
      throw error
    }
    return unsubscribe
  }

  /** Ends every subscription and the LISTEN connection, and the pool if the broker made it. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#payloads.close()
    this.#channels.clear()
    this.#inbox.clear()
    await this.#listener.close()
    if (this.#owned) await this.#db.end()
  }

  #report = (error: unknown, topic?: string): void => {
    try {
      this.#onError?.(error, topic)
    } catch {
      // A throwing onError must not take the broker down.
    }
  }
}
