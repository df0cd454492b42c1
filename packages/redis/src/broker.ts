/**
 * The Redis broker: publish/subscribe between instances over Redis pub/sub (sharded pub/sub on a
 * Cluster), with a subscriber connection of its own and bounded subscribes.
 *
 * @module
 */
import type { Broker, BrokerHandler } from '@ws-warden/core/stores'
import { countOption, onErrorOption } from '@ws-warden/core/stores'
import type { Cluster, Redis } from 'ioredis'
import { bounded, storeOptions, whenReady } from './client.js'
import type { RedisClient, RedisStoreOptions } from './client.js'

/** Options of {@link RedisBroker}. */
export interface RedisBrokerOptions extends RedisStoreOptions {
  /**
   * Receives the subscriber connection's errors (Redis down, reconnecting) and what a handler
   * threw, with the topic when there is one. The broker never lets them crash the process.
   * @default errors are ignored
   */
  readonly onError?: ((error: unknown, topic?: string) => void) | undefined
  /**
   * How long `subscribe` waits for the subscriber connection (and Redis' answer) before it
   * rejects: a subscribe never hangs while Redis is away.
   * @default 2000
   */
  readonly timeoutMs?: number | undefined
}

interface Subscription {
  readonly handler: BrokerHandler
  active: boolean
}

/** A subscribe or an unsubscribe waiting for its batch. */
interface ChannelChange {
  readonly subscribe: boolean
  readonly channel: string
  readonly resolve: (answer: unknown) => void
  readonly reject: (error: unknown) => void
}

/** `changes` cut into runs of one kind, in order. */
function runsOf(changes: readonly ChannelChange[]): ChannelChange[][] {
  const runs: ChannelChange[][] = []
  for (const change of changes) {
    const last = runs.at(-1)
    if (last !== undefined && last[0]!.subscribe === change.subscribe) last.push(change)
    else runs.push([change])
  }
  return runs
}

interface Topic {
  readonly subscriptions: Set<Subscription>
  /** Settles once Redis confirmed the SUBSCRIBE. */
  readonly ready: Promise<unknown>
}

/**
 * Publish/subscribe over Redis pub/sub: topic `t` is the channel `<prefix>:topic:<t>`. Publishes
 * go through the given client; subscriptions through a connection of its own (`duplicate()`),
 * which ioredis resubscribes when Redis comes back. Payloads published while Redis is away are
 * lost (pub/sub has no history). Each Redis channel is subscribed once per broker, so a payload
 * reaches each subscription once.
 *
 * On a Cluster client it uses sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7): a channel
 * belongs to the slot of its name, like a key, so a publish goes to the one node (and its
 * replicas) that serves that slot, instead of `PUBLISH`'s copy to every node of the cluster. The
 * subscriber is then a duplicate of the Cluster with `shardedSubscribers: true`: one connection
 * per master, resubscribed by ioredis when slots move.
 */
export class RedisBroker implements Broker {
  readonly #client: RedisClient
  readonly #subscriber: RedisClient
  readonly #sharded: boolean
  readonly #prefix: string
  readonly #timeoutMs: number
  readonly #onError: (error: unknown, topic?: string) => void
  readonly #topics = new Map<string, Topic>()
  /** (Un)subscribes not sent yet, in call order: they go as few commands as they can. */
  #batch: ChannelChange[] | undefined
  /** Settles once the last batch sent is answered. */
  #sent: Promise<unknown> = Promise.resolve()
  #closed = false

  constructor(options: RedisBrokerOptions) {
    const { client, prefix } = storeOptions('RedisBroker', options)
    onErrorOption('RedisBroker', options.onError)
    this.#client = client
    this.#prefix = `${prefix}:topic:`
    this.#timeoutMs = countOption('RedisBroker', 'timeoutMs', options.timeoutMs, 2000)
    this.#onError = options.onError ?? (() => {})
    this.#sharded = client.isCluster
    // An offline queue on the subscriber only ever holds UNSUBSCRIBEs (a SUBSCRIBE waits for
    // `ready`): replayed after ioredis' resubscribe, they leave Redis in the state we want.
    this.#subscriber = this.#sharded
      ? (client as Cluster).duplicate([], { shardedSubscribers: true })
      : (client as Redis).duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null })
    this.#subscriber.on('error', this.#report)
    this.#subscriber.on(
      this.#sharded ? 'smessage' : 'message',
      (channel: string, payload: string) => {
        this.#deliver(channel, payload)
      },
    )
  }

  async publish(topic: string, payload: string): Promise<void> {
    const channel = this.#prefix + topic
    if (this.#sharded) await this.#client.spublish(channel, payload)
    else await this.#client.publish(channel, payload)
  }

  async subscribe(topic: string, handler: BrokerHandler): Promise<() => Promise<void>> {
    if (typeof handler !== 'function') {
      throw new TypeError('ws-warden: subscribe(handler) must be a function')
    }
    const channel = this.#prefix + topic
    let entry = this.#topics.get(channel)
    if (entry === undefined) {
      const ready = whenReady(this.#subscriber, this.#timeoutMs).then(() =>
        bounded(this.#change(true, channel), this.#timeoutMs, 'Redis did not subscribe'),
      )
      entry = { subscriptions: new Set(), ready }
      this.#topics.set(channel, entry)
    }
    const subscription: Subscription = { handler, active: true }
    entry.subscriptions.add(subscription)
    try {
      await entry.ready
    } catch (error) {
      this.#end(channel, subscription, false)
      throw error
    }
    return async () => this.#end(channel, subscription, true)
  }

  /** Ends every subscription and closes the subscriber connection (not the given client). */
  async close(): Promise<void> {
    this.#closed = true
    for (const entry of this.#topics.values()) {
      for (const subscription of entry.subscriptions) subscription.active = false
    }
    this.#topics.clear()
    this.#subscriber.disconnect()
  }

  /** Ends one subscription; the last one of a channel unsubscribes it (if it was subscribed). */
  #end(channel: string, subscription: Subscription, subscribed: boolean): void {
    if (!subscription.active) return
    subscription.active = false
    // An active subscription is always in its channel's entry.
    const { subscriptions } = this.#topics.get(channel) as Topic
    subscriptions.delete(subscription)
    if (subscriptions.size > 0) return
    this.#topics.delete(channel)
    if (!subscribed) return
    this.#change(false, channel).catch(this.#report)
  }

  /**
   * Subscribes to `channel` or unsubscribes from it. On one Redis, the changes that come while a
   * batch is in flight go next, together: a run of subscribes is one `SUBSCRIBE` of every channel
   * (one write and one parse for a connect burst of new users, not one each), in call order with
   * the unsubscribes around it. On a Cluster each change is its own command, since one
   * `SSUBSCRIBE` takes channels of one slot only.
   */
  #change(subscribe: boolean, channel: string): Promise<unknown> {
    if (this.#sharded) {
      return subscribe
        ? this.#subscriber.ssubscribe(channel)
        : this.#subscriber.sunsubscribe(channel)
    }
    return new Promise((resolve, reject) => {
      const change: ChannelChange = { subscribe, channel, resolve, reject }
      if (this.#batch !== undefined) {
        this.#batch.push(change)
        return
      }
      const batch = (this.#batch = [change])
      this.#sent = this.#sent.then(() => {
        this.#batch = undefined
        // Closed meanwhile: the connection and its subscriptions are gone already.
        if (this.#closed) {
          for (const { resolve } of batch) resolve(undefined)
          return undefined
        }
        return Promise.all(runsOf(batch).map((run) => this.#send(run)))
      })
    })
  }

  /**
   * One command for a run of changes of one kind; each change settles with it. If it is refused
   * (an ACL that denies one of its channels), each change of the run is sent again on its own, so
   * that a subscribe fails only for its own channel.
   */
  async #send(run: readonly ChannelChange[]): Promise<void> {
    const subscriber = this.#subscriber as Redis
    const command = (channels: string[]) =>
      run[0]!.subscribe ? subscriber.subscribe(...channels) : subscriber.unsubscribe(...channels)
    try {
      const answer = await command(run.map(({ channel }) => channel))
      for (const change of run) change.resolve(answer)
    } catch (error) {
      if (run.length === 1) {
        run[0]!.reject(error)
        return
      }
      await Promise.all(
        run.map((change) => command([change.channel]).then(change.resolve, change.reject)),
      )
    }
  }

  #deliver(channel: string, payload: string): void {
    const entry = this.#topics.get(channel)
    /* c8 ignore next: a message of a channel unsubscribed a moment ago (a race) */
    if (entry === undefined) return
    const topic = channel.slice(this.#prefix.length)
    for (const subscription of [...entry.subscriptions]) {
      if (!subscription.active) continue
      try {
        subscription.handler(payload)
      } catch (error) {
        this.#report(error, topic)
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
