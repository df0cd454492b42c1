/**
 * The PostgreSQL broker's inbox: the notifications one instance receives, handed to the
 * subscribers of their channel in the order they came, stored payloads fetched in batches on the
 * way; a handler that throws, or a payload that cannot be read, is reported and skipped.
 *
 * @module
 */
import type { BrokerHandler } from '@ws-warden/core/stores'
import { decode, type PayloadTable } from './broker-payloads.js'

/** One `subscribe` call: its topic (for error reports) and its handler. */
export interface Subscription {
  readonly topic: string
  readonly handler: BrokerHandler
}

/** A channel someone listens on: its subscriptions, and the LISTEN its first one waits for. */
export interface Channel {
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

/** Stored payloads fetched by one statement, at most. */
const FETCH_BATCH = 100

/**
 * The notifications not handed to the handlers yet, oldest first. A notification carrying its
 * payload goes straight to the handlers unless one waits before it for a stored payload.
 */
export class Inbox {
  readonly #channels: ReadonlyMap<string, Channel>
  readonly #payloads: PayloadTable
  readonly #report: (error: unknown, topic?: string) => void
  /** Notifications not handed to the handlers yet, oldest first (only behind a stored one). */
  #pending: Pending[] = []
  #draining = false

  constructor(
    channels: ReadonlyMap<string, Channel>,
    payloads: PayloadTable,
    report: (error: unknown, topic?: string) => void,
  ) {
    this.#channels = channels
    this.#payloads = payloads
    this.#report = report
  }

  /** Forgets every notification not handed over yet. */
  clear(): void {
    this.#pending = []
  }

  /** A notification arrived: its payload goes to the handlers once those before it went. */
  received(name: string, message: string): void {
    // Only a notification that crossed the UNLISTEN of its last subscriber finds no channel.
    if (!this.#channels.has(name)) return
    const pending: Pending = { name, ...decode(message) }
    if (pending.payload === undefined && pending.id === undefined) {
      this.#report(new Error('ws-warden: PostgresBroker got a malformed NOTIFY'), this.#topic(name))
    }
    if (this.#pending.length === 0 && pending.payload !== undefined) {
      this.#deliver(name, pending.payload)
      return
    }
    this.#pending.push(pending)
    if (this.#draining) return
    this.#draining = true
    // After the notifications that came in the same read from the socket: they join the batch.
    queueMicrotask(() => void this.#drain())
  }

  /** Hands the inbox to the handlers in order, fetching its stored payloads in batches. */
  async #drain(): Promise<void> {
    try {
      for (;;) {
        const head = this.#pending[0]
        if (head === undefined) return
        if (head.id === undefined) {
          this.#pending.shift()
          if (head.payload !== undefined) this.#deliver(head.name, head.payload)
          continue
        }
        const batch = this.#pending.filter((pending) => pending.id !== undefined)
        await this.#fetch(batch.slice(0, FETCH_BATCH))
      }
    } finally {
      this.#draining = false
    }
  }

  /** Fills in the payloads of `batch` (each then has no id left, found or not). */
  async #fetch(batch: Pending[]): Promise<void> {
    const ids = [...new Set(batch.map((pending) => pending.id as string))]
    let found: Map<string, string> | undefined
    try {
      found = await this.#payloads.fetch(ids)
    } catch (error) {
      // At most once: a payload that cannot be read now is dropped, as a lost NOTIFY would be.
      this.#report(error, this.#topic(batch[0]!.name))
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
}
