/**
 * The NATS broker: ws-warden's publish/subscribe between instances over NATS core pub/sub. Owns
 * the connection's lifecycle (connect, reconnect, drain on close) when it opens the connection
 * itself, and the per-topic subscriptions; its options are read in `options.ts`, topics become
 * subjects in `subjects.ts`.
 *
 * @module
 */
import type { Broker, BrokerHandler } from '@ws-warden/core/stores'
import { connect } from '@nats-io/transport-node'
import type {
  Msg,
  NatsConnection,
  NodeConnectionOptions,
  Subscription as NatsSubscription,
} from '@nats-io/transport-node'
import { NatsPayloadTooLargeError, bounded, closedError, unavailable } from './errors.js'
import { readOptions, type NatsBrokerOptions } from './options.js'
import { encodeTopic } from './subjects.js'

interface Subscription {
  readonly handler: BrokerHandler
  active: boolean
}

interface Topic {
  readonly topic: string
  readonly subscriptions: Set<Subscription>
  /** The NATS subscription, once made. */
  nats?: NatsSubscription
  /** Settles once the server has the subscription. */
  ready?: Promise<void>
}

/** How long to wait before trying again when the first connect fails. */
const RETRY_MS = 1000

/**
 * Publish/subscribe over NATS core: topic `t` is the subject `<prefix>.topic.<encoded t>` (see
 * `encodeTopic`). Each subject is subscribed once per broker, so a payload reaches each
 * subscription once; the NATS client restores subscriptions after a reconnect. Payloads
 * published while the connection is down are not queued: `publish` rejects at once and nothing
 * is sent later. A payload over the server's `max_payload` is refused before it is sent.
 */
export class NatsBroker implements Broker {
  readonly #prefix: string
  readonly #timeoutMs: number
  readonly #onError: (error: unknown, topic?: string) => void
  readonly #owned: boolean
  readonly #topics = new Map<string, Topic>()
  /** Called when the connection comes up (true) or for good goes (false: closed). */
  readonly #waiters = new Set<(online: boolean) => void>()
  #connection: NatsConnection | undefined
  #online = false
  #wasOnline = false
  #closed = false
  #retry: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined

  constructor(options: NatsBrokerOptions = {}) {
    const settings = readOptions(options)
    this.#prefix = settings.subjectPrefix
    this.#timeoutMs = settings.timeoutMs
    this.#onError = settings.onError
    if ('connection' in settings.use) {
      this.#owned = false
      this.#attach(settings.use.connection)
      return
    }
    this.#owned = true
    this.#open(settings.use.connect)
  }

  /**
   * Resolves once the broker is connected to NATS (at once if it is); rejects with a
   * `StoreUnavailableError` after `timeoutMs`, or if the broker is closed.
   */
  async ready(): Promise<void> {
    await this.#whenOnline()
  }

  async publish(topic: string, payload: string): Promise<void> {
    if (typeof topic !== 'string' || typeof payload !== 'string') {
      throw new TypeError('ws-warden: NatsBroker.publish(topic, payload) needs two strings')
    }
    if (!this.#online) {
      // Once connected, a dropped connection fails fast: nothing is buffered for later. (A
      // closed broker or connection rejects in #whenOnline, with its own message.)
      if (this.#wasOnline && !this.#closed && this.#connection?.isClosed() === false) {
        throw unavailable('NATS is disconnected (reconnecting)')
      }
      await this.#whenOnline()
    }
    const connection = this.#connection as NatsConnection
    const data = Buffer.from(payload, 'utf8')
    const max = connection.info?.max_payload
    if (max !== undefined && data.length > max) {
      throw new NatsPayloadTooLargeError(topic, data.length, max)
    }
    connection.publish(this.#prefix + encodeTopic(topic), data)
    await this.#flush(connection)
  }

  async subscribe(topic: string, handler: BrokerHandler): Promise<() => Promise<void>> {
    if (typeof topic !== 'string') {
      throw new TypeError('ws-warden: NatsBroker.subscribe(topic) needs a string')
    }
    if (typeof handler !== 'function') {
      throw new TypeError('ws-warden: subscribe(handler) must be a function')
    }
    if (this.#closed) throw closedError()
    const subject = this.#prefix + encodeTopic(topic)
    let entry = this.#topics.get(subject)
    if (entry === undefined) {
      const created: Topic = { topic, subscriptions: new Set() }
      created.ready = this.#whenOnline().then(() => {
        // The broker closed between the connection coming up and this callback.
        /* c8 ignore next */
        if (this.#topics.get(subject) !== created) return
        const connection = this.#connection as NatsConnection
        created.nats = connection.subscribe(subject, {
          callback: (error, message) => this.#deliver(created, error, message),
        })
        return this.#flush(connection)
      })
      entry = created
      this.#topics.set(subject, entry)
    }
    const subscription: Subscription = { handler, active: true }
    entry.subscriptions.add(subscription)
    try {
      await entry.ready
    } catch (error) {
      this.#end(subject, subscription)
      throw error
    }
    return async () => this.#end(subject, subscription)
  }

  /**
   * Ends every subscription. A connection the broker opened is drained (what was published is
   * sent first) and closed, within `timeoutMs`; a given connection stays open.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#online = false
    clearTimeout(this.#retry)
    for (const wake of [...this.#waiters]) wake(false)
    const subscriptions: NatsSubscription[] = []
    for (const entry of this.#topics.values()) {
      for (const subscription of entry.subscriptions) subscription.active = false
      if (entry.nats !== undefined) subscriptions.push(entry.nats)
    }
    this.#topics.clear()
    const connection = this.#connection
    if (connection === undefined || connection.isClosed()) return
    if (!this.#owned) {
      for (const subscription of subscriptions) subscription.unsubscribe()
      return
    }
    try {
      await bounded(connection.drain(), this.#timeoutMs, 'NATS did not drain')
    } catch (error) {
      this.#report(error)
      await connection.close()
    }
  }

  /** Connects, trying again every second until it succeeds or the broker closes. */
  #open(options: NodeConnectionOptions): void {
    connect(options).then(
      (connection) => {
        if (this.#closed) {
          void connection.close()
          return
        }
        this.#attach(connection)
      },
      (error: unknown) => {
        this.#report(error)
        /* c8 ignore next: closed while a failed connect was settling */
        if (this.#closed) return
        this.#retry = setTimeout(() => this.#open(options), RETRY_MS)
        this.#retry.unref()
      },
    )
  }

  #attach(connection: NatsConnection): void {
    this.#connection = connection
    if (!connection.isClosed()) this.#setOnline(true)
    void this.#watch(connection)
    void connection.closed().then((error) => {
      this.#online = false
      if (this.#closed) return
      this.#report(error ?? new Error('ws-warden: the NATS connection was closed'))
      // A closed connection never comes back: fail every pending wait now.
      for (const wake of [...this.#waiters]) wake(false)
    })
  }

  async #watch(connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      if (status.type === 'disconnect') {
        this.#online = false
        this.#report(new Error(`ws-warden: disconnected from NATS ${status.server}`))
      } else if (status.type === 'reconnect') {
        // The client resent every SUB on reconnecting; once the server answers a flush it has
        // them all, so a caller woken by `ready()` finds its subscriptions active.
        connection.flush().then(
          () => this.#setOnline(!this.#closed && !connection.isClosed()),
          /* c8 ignore next: the connection dropped again before the server answered */
          () => {},
        )
        /* c8 ignore next 3: a server error (-ERR, e.g. an authorization violation) */
      } else if (status.type === 'error') {
        this.#report(status.error)
      }
    }
  }

  #setOnline(online: boolean): void {
    this.#online = online
    this.#wasOnline ||= online
    for (const wake of [...this.#waiters]) wake(online)
  }

  /** Resolves once connected; rejects after `timeoutMs`, on close, or if the connection closed. */
  #whenOnline(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    if (this.#online) return Promise.resolve()
    if (this.#connection?.isClosed() === true) {
      return Promise.reject(unavailable('the NATS connection is closed'))
    }
    return new Promise<void>((resolve, reject) => {
      // Woken with false only for good: the broker or its connection closed.
      const wake = (online: boolean): void => {
        this.#waiters.delete(wake)
        clearTimeout(timer)
        if (online) resolve()
        else reject(this.#closed ? closedError() : unavailable('the NATS connection is closed'))
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(wake)
        reject(unavailable(`NATS was not connected within ${this.#timeoutMs} ms`))
      }, this.#timeoutMs)
      // Not unref'd: while NATS is down nothing else may hold the process, and an awaited
      // `ready()` must still settle (a start-up error) instead of ending the process mid-wait.
      // It is cleared as soon as the wait ends, and lasts `timeoutMs` at most.
      this.#waiters.add(wake)
    })
  }

  /**
   * One flush (a PING the server answers after everything before it) for every publish and
   * subscribe of the same tick, bounded by `timeoutMs`.
   */
  #flush(connection: NatsConnection): Promise<void> {
    if (this.#flushing !== undefined) return this.#flushing
    const flushing = Promise.resolve().then(() => {
      this.#flushing = undefined
      return bounded(connection.flush(), this.#timeoutMs, 'NATS did not answer a flush')
    })
    this.#flushing = flushing
    return flushing
  }

  /** Ends one subscription; the last one of a subject unsubscribes it. */
  #end(subject: string, subscription: Subscription): void {
    if (!subscription.active) return
    subscription.active = false
    // An active subscription is always in its subject's entry.
    const entry = this.#topics.get(subject) as Topic
    entry.subscriptions.delete(subscription)
    if (entry.subscriptions.size > 0) return
    this.#topics.delete(subject)
    if (entry.nats !== undefined) entry.nats.unsubscribe()
  }

  #deliver(entry: Topic, error: Error | null, message: Msg): void {
    // A subscription error (a permission violation) needs a server with authorization.
    /* c8 ignore next 4 */
    if (error !== null) {
      this.#report(error, entry.topic)
      return
    }
    const payload = message.string()
    for (const subscription of [...entry.subscriptions]) {
      if (!subscription.active) continue
      try {
        subscription.handler(payload)
      } catch (error) {
        this.#report(error, entry.topic)
      }
    }
  }

  readonly #report = (error: unknown, topic?: string): void => {
    try {
      this.#onError(error, topic)
    } catch {
      // A throwing onError has nowhere left to report to.
    }
  }
}
