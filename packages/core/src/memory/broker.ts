/**
 * The in-process broker: topics and handlers within one process.
 *
 * @module
 */
import type { Broker, BrokerHandler } from '../store-contracts.js'
import { onErrorOption } from '../validate.js'

/** Options of {@link MemoryBroker}. */
export interface MemoryBrokerOptions {
  /**
   * Receives what a handler threw, with the topic; the other handlers still run.
   * @default errors are ignored
   */
  readonly onError?: ((error: unknown, topic: string) => void) | undefined
}

interface Subscription {
  readonly handler: BrokerHandler
  active: boolean
}

/**
 * The in-process {@link Broker}. Several wardens in one process can share one instance to act as
 * a cluster (in tests, for instance).
 *
 * Delivery is asynchronous (a microtask after `publish`), so a publisher is never re-entered by
 * its own handlers; payloads published in order arrive in order. A subscription ended before a
 * queued delivery runs does not receive it.
 */
export class MemoryBroker implements Broker {
  readonly #topics = new Map<string, Set<Subscription>>()
  readonly #onError: ((error: unknown, topic: string) => void) | undefined

  constructor(options: MemoryBrokerOptions = {}) {
    this.#onError = onErrorOption('MemoryBroker', options.onError)
  }

  async publish(topic: string, payload: string): Promise<void> {
    const subscriptions = this.#topics.get(topic)
    if (subscriptions === undefined) return
    const targets = [...subscriptions]
    queueMicrotask(() => this.#deliver(topic, payload, targets))
  }

  async subscribe(topic: string, handler: BrokerHandler): Promise<() => Promise<void>> {
    if (typeof handler !== 'function') {
      throw new TypeError('ws-warden: subscribe(handler) must be a function')
    }
    const subscription: Subscription = { handler, active: true }
    const subscriptions = this.#topics.get(topic)
    if (subscriptions === undefined) this.#topics.set(topic, new Set([subscription]))
    else subscriptions.add(subscription)
    return async () => {
      if (!subscription.active) return
      subscription.active = false
      // An active subscription is always in its topic's set.
      const current = this.#topics.get(topic) as Set<Subscription>
      current.delete(subscription)
      if (current.size === 0) this.#topics.delete(topic)
    }
  }

  /** Ends every subscription; deliveries already queued are dropped. */
  async close(): Promise<void> {
    for (const subscriptions of this.#topics.values()) {
      for (const subscription of subscriptions) subscription.active = false
    }
    this.#topics.clear()
  }

  #deliver(topic: string, payload: string, targets: readonly Subscription[]): void {
    for (const subscription of targets) {
      if (!subscription.active) continue
      try {
        subscription.handler(payload)
      } catch (error) {
        this.#report(error, topic)
      }
    }
  }

  #report(error: unknown, topic: string): void {
    try {
      this.#onError?.(error, topic)
    } catch {
      // A throwing onError must not stop the remaining handlers either.
    }
  }
}
