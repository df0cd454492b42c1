/**
 * The PostgreSQL broker's LISTEN connection: the one pool client every subscription shares, its
 * LISTENs and UNLISTENs batched while a query is in flight, its health check, and its recovery
 * (reconnect with jitter, LISTEN again on every channel) when it is lost.
 *
 * @module
 */
import type { PgClient, PgPool } from './database.js'

/** What {@link ListenConnection} works with. */
export interface ListenConnectionOptions {
  readonly pool: PgPool
  /** How long one statement on the connection may take. */
  readonly timeoutMs: number
  /** Pause before reconnecting (jittered by up to half). */
  readonly reconnectDelayMs: number
  /** How often the connection is checked with `SELECT 1`. */
  readonly healthCheckMs: number
  /** The channels listened on, by name: a new connection LISTENs on each; none, no reconnect. */
  readonly channels: ReadonlyMap<string, unknown>
  /** A notification arrived on `channel`. */
  readonly received: (channel: string, message: string) => void
  /** Where a lost connection and a failed reconnect are reported. */
  readonly report: (error: unknown) => void
}

/** A channel name as a quoted identifier. */
const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

/**
 * The LISTEN connection of a broker: connected on the first LISTEN, replaced when it fails (an
 * `error` or `end` event, or a failed health check) while anyone listens.
 */
export class ListenConnection {
  readonly #pool: PgPool
  readonly #timeoutMs: number
  readonly #reconnectDelayMs: number
  readonly #channels: ReadonlyMap<string, unknown>
  readonly #received: (channel: string, message: string) => void
  readonly #report: (error: unknown) => void
  readonly #health: NodeJS.Timeout
  #client: PgClient | undefined
  #queue: Promise<unknown> = Promise.resolve()
  /** Statements for the LISTEN connection not sent yet: they go together, as one query. */
  #batch:
    | { readonly client: PgClient; readonly texts: string[]; readonly done: Promise<void> }
    | undefined
  #connecting: Promise<PgClient> | undefined
  #retry: NodeJS.Timeout | undefined
  #closed = false

  constructor(options: ListenConnectionOptions) {
    this.#pool = options.pool
    this.#timeoutMs = options.timeoutMs
    this.#reconnectDelayMs = options.reconnectDelayMs
    this.#channels = options.channels
    this.#received = options.received
    this.#report = options.report
    this.#health = setInterval(() => void this.#check(), options.healthCheckMs).unref()
  }

  /** LISTENs on `name`, connecting first if need be; settles once the LISTEN ran. */
  listen(name: string): Promise<void> {
    return this.#connect().then(async (client) => {
      await this.#query(client, `LISTEN ${quote(name)}`)
    })
  }

  /**
   * UNLISTENs on `name` if connected (failures are reported); undefined when not connected: lost
   * connections forget their LISTENs, and reconnects only LISTEN on live channels.
   */
  unlisten(name: string): Promise<void> | undefined {
    const client = this.#client
    if (client === undefined) return undefined
    return this.#query(client, `UNLISTEN ${quote(name)}`).catch(this.#report)
  }

  /** Stops the health check and any reconnect, and drops the connection (once it is open). */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#health)
    clearTimeout(this.#retry)
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined))
    if (client !== undefined) this.#drop(client)
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

  #connect(): Promise<PgClient> {
    if (this.#client !== undefined) return Promise.resolve(this.#client)
    this.#connecting ??= this.#open().finally(() => (this.#connecting = undefined))
    return this.#connecting
  }

  async #open(): Promise<PgClient> {
    const client = (await this.#pool.connect()) as PgListenClient
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
