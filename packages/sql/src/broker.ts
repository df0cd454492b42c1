import type { Broker, BrokerHandler } from '@ws-warden/core/stores'
import type { Database, PgClient, PgPool } from './database.js'
import { digest } from './dialects.js'
import { positiveInteger, resolve } from './options.js'

/** The most a NOTIFY payload can hold: it must be shorter than 8000 bytes. */
export const MAX_PAYLOAD_BYTES = 7999

/** PostgreSQL truncates identifiers, channel names included, to 63 bytes. */
const MAX_CHANNEL_BYTES = 63

/** Options of {@link PostgresBroker}. */
export interface PostgresBrokerOptions {
  /** Your `pg.Pool`: the broker takes one client from it for LISTEN and never ends it. */
  readonly pool?: PgPool | undefined
  /** A `postgres://` URL: the broker creates its own pool and ends it in `close()`. */
  readonly url?: string | undefined
  /**
   * Prepended to every channel name. Channels are database-wide (not per schema): brokers that
   * should not hear each other need different prefixes.
   * @default 'ws_warden_'
   */
  readonly prefix?: string | undefined
  /**
   * How long a NOTIFY, a LISTEN or a health check may take.
   * @default 5000
   */
  readonly timeoutMs?: number | undefined
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
  /**
   * Receives what went wrong in the background: a lost connection, a failed reconnect, a
   * handler that threw (with its topic). The broker never throws these.
   * @default errors are ignored
   */
  readonly onError?: ((error: unknown, topic?: string) => void) | undefined
}

/** `publish` was given a payload that does not fit in one NOTIFY. */
export class PayloadTooLargeError extends Error {
  /** The payload's size in UTF-8 bytes. */
  readonly bytes: number

  constructor(bytes: number) {
    super(
      `ws-warden: NOTIFY payloads must be at most ${MAX_PAYLOAD_BYTES} bytes, got ${bytes}; ` +
        'use the Redis broker for larger messages',
    )
    this.name = 'PayloadTooLargeError'
    this.bytes = bytes
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

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

/**
 * A {@link Broker} over PostgreSQL `LISTEN/NOTIFY`, so that instances sharing only a PostgreSQL
 * database can fan out to each other. `publish` is one `SELECT pg_notify(...)` on the pool;
 * subscriptions share one dedicated connection that LISTENs on `<prefix><topic>` (hashed when
 * longer than PostgreSQL's 63-byte limit). When that connection is lost the broker reports it to
 * `onError`, reconnects and LISTENs again on every channel; payloads published in between are
 * not delivered (at most once, like Redis pub/sub). Payloads above 7999 bytes are refused with
 * {@link PayloadTooLargeError}.
 */
export class PostgresBroker implements Broker {
  readonly #db: Database
  readonly #owned: boolean
  readonly #prefix: string
  readonly #timeoutMs: number
  readonly #reconnectDelayMs: number
  readonly #onError: ((error: unknown, topic?: string) => void) | undefined
  readonly #channels = new Map<string, Channel>()
  readonly #health: NodeJS.Timeout
  #client: PgClient | undefined
  #queue: Promise<unknown> = Promise.resolve()
  #connecting: Promise<PgClient> | undefined
  #retry: NodeJS.Timeout | undefined
  #closed = false

  constructor(options: PostgresBrokerOptions) {
    const { db, owned } = resolve('PostgresBroker', options)
    if (db.dialect.name !== 'postgres') {
      throw new TypeError('ws-warden: PostgresBroker needs a pg.Pool or a postgres:// url')
    }
    const option = (name: string, value: unknown, fallback: number) =>
      value === undefined ? fallback : positiveInteger(`PostgresBroker option ${name}`, value)
    this.#db = db
    this.#owned = owned
    this.#prefix = options.prefix ?? 'ws_warden_'
    this.#timeoutMs = option('timeoutMs', options.timeoutMs, 5_000)
    this.#reconnectDelayMs = option('reconnectDelayMs', options.reconnectDelayMs, 1_000)
    const healthCheckMs = option('healthCheckMs', options.healthCheckMs, 30_000)
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new TypeError('ws-warden: PostgresBroker option onError must be a function')
    }
    this.#onError = options.onError
    this.#health = setInterval(() => void this.#check(), healthCheckMs).unref()
  }

  /** The channel a topic travels on. */
  channel(topic: string): string {
    const name = this.#prefix + topic
    if (Buffer.byteLength(name) <= MAX_CHANNEL_BYTES && !name.includes('\0')) return name
    const hash = digest(topic).toString('base64url')
    return `${this.#prefix}#${hash}`.slice(0, MAX_CHANNEL_BYTES)
  }

  async publish(topic: string, payload: string): Promise<void> {
    if (typeof payload !== 'string')
      throw new TypeError('ws-warden: publish(payload) must be a string')
    const bytes = Buffer.byteLength(payload)
    if (bytes > MAX_PAYLOAD_BYTES) throw new PayloadTooLargeError(bytes)
    await this.#db.run('SELECT pg_notify(?, ?)', [this.channel(topic), payload])
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
    clearTimeout(this.#retry)
    this.#channels.clear()
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined))
    if (client !== undefined) this.#drop(client)
    if (this.#owned) await this.#db.end()
  }

  /** Runs one statement on the LISTEN connection, after those already sent (pg 9 won't queue). */
  #query(client: PgClient, text: string) {
    const query = this.#queue.then(() => client.query({ text, query_timeout: this.#timeoutMs }))
    this.#queue = query.catch(() => {})
    return query
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
    client.on('notification', (message) => this.#deliver(message.channel, message.payload))
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

  #deliver(name: string, payload: string): void {
    const channel = this.#channels.get(name)
    // Only a notification that crossed the UNLISTEN of its last subscriber finds no channel.
    /* c8 ignore next */
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

/** Clients already handed back, so that an `error` followed by `end` releases once. */
const dropped = new WeakSet<PgClient>()

/** A pool client with the events of `pg.Client`. */
interface PgListenClient extends PgClient {
  on(event: 'notification', listener: (message: { channel: string; payload: string }) => void): this
  on(event: 'error', listener: (error: Error) => void): this
  on(event: 'end', listener: () => void): this
}
