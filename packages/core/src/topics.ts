/**
 * Reference-counted broker subscriptions: one subscription per topic while members need it.
 *
 * @module
 */
import type { Broker, BrokerHandler } from './store-contracts.js'

type Unsubscribe = () => Promise<void>

/**
 * Reference-counted broker subscriptions: an instance subscribes to a channel's or a user's topic
 * while it holds at least one member, and unsubscribes when the last one leaves.
 */
export class TopicSubscriptions {
  private readonly active = new Map<string, { count: number; ready: Promise<Unsubscribe> }>()

  constructor(
    private readonly broker: Broker,
    private readonly handler: (topic: string) => BrokerHandler,
  ) {}

  /** Resolves once the topic's subscription is active. */
  async acquire(topic: string): Promise<void> {
    const entry = this.active.get(topic)
    if (entry) {
      entry.count++
      await entry.ready
      return
    }
    const ready = this.broker.subscribe(topic, this.handler(topic))
    this.active.set(topic, { count: 1, ready })
    try {
      await ready
    } catch (error) {
      if (this.active.get(topic)?.ready === ready) this.active.delete(topic)
      throw error
    }
  }

  /** Resolves once the topic's subscription, if this instance holds one, is active. */
  async ready(topic: string): Promise<void> {
    await this.active.get(topic)?.ready
  }

  async release(topic: string): Promise<void> {
    const entry = this.active.get(topic)
    if (!entry) return
    entry.count--
    if (entry.count > 0) return
    this.active.delete(topic)
    const unsubscribe = await entry.ready
    await unsubscribe()
  }

  /** Ends every subscription. */
  async releaseAll(): Promise<void> {
    const entries = [...this.active.values()]
    this.active.clear()
    await Promise.allSettled(entries.map(async (entry) => (await entry.ready)()))
  }
}
