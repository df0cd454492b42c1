/**
 * The PostgreSQL broker: publishing (inline NOTIFY or a stored row plus a NOTIFY of its id, in
 * call order), the LISTEN connection and its recovery, fetching stored payloads in notification
 * order, and the retention sweep of stored payloads.
 */
import type { Clock } from '@ws-warden/core'
import { countOption, type Broker, type BrokerHandler } from '@ws-warden/core/stores'
import type { Database, PgClient, PgPool } from './database.js'
import { digest } from './dialects.js'
import { onErrorOption, resolve, time } from './options.js'

/**
 * The largest payload sent inside the NOTIFY itself (PostgreSQL wants NOTIFY payloads shorter
 * than 8000 bytes). Larger ones are stored in `<prefix>broker_payloads` and the NOTIFY carries
 * the row's id.
 */
export const MAX_INLINE_BYTES = 7999

/** PostgreSQL truncates identifiers, channel names included, to 63 bytes. */
const MAX_CHANNEL_BYTES = 63

/**
 * The first character of a NOTIFY that is not the payload as is: followed by a second one, the
 * payload (which itself began with this character); followed by digits, a stored payload's id.
 */
const MARK = '\u0001'

/** Stored payloads fetched by one statement, at most. */
const FETCH_BATCH = 100

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

interface Subscription {
  readonly topic: string
  readonly handler: BrokerHandler
}

interface Channel {
  readonly subscriptions: Set<Subscription>
  /** Settles once LISTEN ran for the channel's first subscriber. */
  listening: Promise<void>
}

/**
 * A notification waiting for its turn: with its payload, or with the id of a stored payload not
 * fetched yet; with neither once that fetch failed (it is skipped).
 */
interface Pending {
  readonly name: string
  payload: string | undefined
  id: string | undefined
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

/** PostgreSQL's `undefined_table`: `migrate` did not run for the broker's prefix and schema. */
const UNDEFINED_TABLE = '42P01'

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
  readonly #table: string
  readonly #batchSize: number
  readonly #clock: Clock
  readonly #timeoutMs: number
  readonly #maxPayloadBytes: number
  readonly #retentionMs: number
  readonly #reconnectDelayMs: number
  readonly #onError: ((error: unknown, topic?: string) => void) | undefined
  readonly #channels = new Map<string, Channel>()
  readonly #health: NodeJS.Timeout
  readonly #sweeper: NodeJS.Timeout | undefined
  #client: PgClient | undefined
  #queue: Promise<unknown> = Promise.resolve()
  /** Statements for the LISTEN connection not sent yet: they go together, as one query. */
  #batch:
    | { readonly client: PgClient; readonly texts: string[]; readonly done: Promise<void> }
    | undefined
  /** Settles once the last publish called so far has finished (either way). */
  #sending: Promise<void> = Promise.resolve()
  /** Publishes called and not finished. */
  #publishing = 0
  /** Notifications not handed to the handlers yet, oldest first (only behind a stored one). */
  #inbox: Pending[] = []
  #draining = false
  #sweeping = false
  #connecting: Promise<PgClient> | undefined
  #retry: NodeJS.Timeout | undefined
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
    this.#prefix = options.prefix ?? 'ws_warden_'
    this.#table = resolved.tables.brokerPayloads
    this.#batchSize = resolved.batchSize
    this.#clock = resolved.clock
    this.#timeoutMs = resolved.timeoutMs
    this.#maxPayloadBytes = maxPayloadBytes
    this.#retentionMs = retentionMs
    this.#reconnectDelayMs = reconnectDelayMs
    this.#onError = onError
    this.#health = setInterval(() => void this.#check(), healthCheckMs).unref()
    if (sweepIntervalMs !== false) {
      this.#sweeper = setInterval(() => void this.#sweepRetained(), sweepIntervalMs).unref()
    }
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
      await this.#send(channel, payload, bytes)
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

  async #send(channel: string, payload: string, bytes: number): Promise<void> {
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

  /**
   * Deletes the stored payloads created before `before` (epoch ms), in batches; resolves how
   * many. The broker calls it every `sweepIntervalMs` with `now - retentionMs`.
   */
  async sweep(before: number): Promise<number> {
    const bound = time('broker.sweep(before)', before)
    return this.#db
      .sweep(this.#table, 'id', 'created_at < ?', [bound], this.#batchSize)
      .catch(this.#missingTable)
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
      created.listening = this.#connect().then(async (client) => {
        await this.#query(client, `LISTEN ${quote(name)}`)
      })
      this.#channels.set(name, (channel = created))
    }
    channel.subscriptions.add(subscription)
    const unsubscribe = async () => {
      if (!channel.subscriptions.delete(subscription) || channel.subscriptions.size > 0) return
      if (this.#channels.get(name) === channel) this.#channels.delete(name)
      const client = this.#client
      // Lost connections forget their LISTENs, and reconnects only LISTEN on live channels.
      if (client !== undefined)
        await this.#query(client, `UNLISTEN ${quote(name)}`).catch(this.#report)
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
    clearInterval(this.#health)
    clearInterval(this.#sweeper)
    clearTimeout(this.#retry)
    this.#channels.clear()
    this.#inbox = []
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined))
    if (client !== undefined) this.#drop(client)
    if (this.#owned) await this.#db.end()
  }

  /**
   * Runs one statement on the LISTEN connection, after those already sent (pg 9 won't queue).
   * The statements that come while one query is in flight go next, together, as one query: one
   * round trip for every new user's LISTEN of a connect burst, not one each. If one of them fails
   * they all do (one query is one implicit transaction, which a LISTEN is part of).
   */
  #query(client: PgClient, text: string): Promise<void> {
    const batch = this.#batch
    if (batch !== undefined && batch.client === client) {
      batch.texts.push(text)
      return batch.done
    }
    const texts = [text]
    const done = this.#queue.then(async () => {
      if (this.#batch?.texts === texts) this.#batch = undefined
      await client.query({ text: texts.join('; '), query_timeout: this.#timeoutMs })
    })
    this.#batch = { client, texts, done }
    this.#queue = done.catch(() => {})
    return done
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

  #report = (error: unknown, topic?: string): void => {
    try {
      this.#onError?.(error, topic)
    } catch {
      // A throwing onError must not take the broker down.
    }
  }

  #connect(): Promise<PgClient> {
    if (this.#client !== undefined) return Promise.resolve(this.#client)
    this.#connecting ??= this.#open().finally(() => (this.#connecting = undefined))
    return this.#connecting
  }

  async #open(): Promise<PgClient> {
    const client = (await (this.#db.dialect.pool as PgPool).connect()) as PgListenClient
    client.on('notification', (message) => this.#received(message.channel, message.payload))
    client.on('error', (error) => this.#lost(client, error))
    client.on('end', () => this.#lost(client, new Error('ws-warden: LISTEN connection ended')))
    try {
      if (this.#closed) throw new Error('ws-warden: PostgresBroker is closed')
      const names = [...this.#channels.keys()]
      if (names.length > 0)
        await this.#query(client, names.map((n) => `LISTEN ${quote(n)}`).join('; '))
    } catch (error) {
      this.#drop(client)
      throw error
    }
    this.#client = client
    return client
  }

  /** A notification arrived: its payload goes to the handlers once those before it went. */
  #received(name: string, message: string): void {
    // Only a notification that crossed the UNLISTEN of its last subscriber finds no channel.
    if (!this.#channels.has(name)) return
    const pending: Pending = { name, ...decode(message) }
    if (pending.payload === undefined && pending.id === undefined) {
      this.#report(new Error('ws-warden: PostgresBroker got a malformed NOTIFY'), this.#topic(name))
    }
    if (this.#inbox.length === 0 && pending.payload !== undefined) {
      this.#deliver(name, pending.payload)
      return
    }
    this.#inbox.push(pending)
    if (this.#draining) return
    this.#draining = true
    // After the notifications that came in the same read from the socket: they join the batch.
    queueMicrotask(() => void this.#drain())
  }

  /** Hands the inbox to the handlers in order, fetching its stored payloads in batches. */
  async #drain(): Promise<void> {
    try {
      for (;;) {
        const head = this.#inbox[0]
        if (head === undefined) return
        if (head.id === undefined) {
          this.#inbox.shift()
          if (head.payload !== undefined) this.#deliver(head.name, head.payload)
          continue
        }
        const batch = this.#inbox.filter((pending) => pending.id !== undefined)
        await this.#fetch(batch.slice(0, FETCH_BATCH))
      }
    } finally {
      this.#draining = false
    }
  }

  /** Fills in the payloads of `batch` (each then has no id left, found or not). */
  async #fetch(batch: Pending[]): Promise<void> {
    const ids = [...new Set(batch.map((pending) => pending.id))]
    let found: Map<string, string> | undefined
    try {
      const { rows } = await this.#db.run(
        `SELECT id, payload FROM ${this.#table} WHERE id = ANY(?::bigint[])`,
        [ids],
      )
      found = new Map(rows.map((row) => [String(row.id), String(row.payload)]))
    } catch (error) {
      // At most once: a payload that cannot be read now is dropped, as a lost NOTIFY would be.
      this.#report(this.#explain(error), this.#topic(batch[0]!.name))
    }
    for (const pending of batch) {
      pending.payload = found?.get(pending.id!)
      if (found !== undefined && pending.payload === undefined) {
        const error = new Error(
          `ws-warden: PostgresBroker payload ${pending.id} is gone (older than retentionMs?)`,
        )
        this.#report(error, this.#topic(pending.name))
      }
      pending.id = undefined
    }
  }

  /** The topic of a channel's subscribers, for error reports. */
  #topic(name: string): string | undefined {
    return this.#channels.get(name)?.subscriptions.values().next().value?.topic
  }

  #deliver(name: string, payload: string): void {
    const channel = this.#channels.get(name)
    // Unsubscribed while its notification waited behind a stored payload.
    if (channel === undefined) return
    for (const subscription of [...channel.subscriptions]) {
      try {
        subscription.handler(payload)
      } catch (error) {
        this.#report(error, subscription.topic)
      }
    }
  }

  /** The LISTEN connection failed: drop it and, while anyone listens, reconnect. */
  #lost(client: PgClient, error: unknown): void {
    if (!this.#drop(client)) return
    this.#report(error)
    this.#reconnect()
  }

  #reconnect(): void {
    if (this.#closed || this.#retry !== undefined || this.#channels.size === 0) return
    const delay = this.#reconnectDelayMs * (1 + Math.random() / 2)
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      this.#connect().catch((error: unknown) => {
        this.#report(error)
        this.#reconnect()
      })
    }, delay).unref()
  }

  async #check(): Promise<void> {
    const client = this.#client
    if (client === undefined) return this.#reconnect()
    await this.#query(client, 'SELECT 1').catch((error: unknown) => this.#lost(client, error))
  }

  /** Destroys `client` once; false if it was already dropped. */
  #drop(client: PgClient): boolean {
    if (dropped.has(client)) return false
    dropped.add(client)
    if (this.#client === client) this.#client = undefined
    client.release(true)
    return true
  }
}

/** What a NOTIFY carries: a payload, or a stored payload's id; neither when it is malformed. */
function decode(message: string): { payload: string | undefined; id: string | undefined } {
  if (!message.startsWith(MARK)) return { payload: message, id: undefined }
  if (message.startsWith(MARK, 1)) return { payload: message.slice(1), id: undefined }
  const id = message.slice(1)
  return { payload: undefined, id: /^[0-9]{1,19}$/.test(id) ? id : undefined }
}

/** Clients already handed back, so that an `error` followed by `end` releases once. */
const dropped = new WeakSet<PgClient>()

/** A pool client with the events of `pg.Client`. */
interface PgListenClient extends PgClient {
  on(event: 'notification', listener: (message: { channel: string; payload: string }) => void): this
  on(event: 'error', listener: (error: Error) => void): this
  on(event: 'end', listener: () => void): this
}
