/**
 * Channel membership: join (after `authorizeChannel`) and leave, each recorded in the session
 * store, in the broker subscriptions (the first member subscribes, the last unsubscribes) and in
 * the connection's resumable session.
 *
 * @module
 */
import { streamOf } from '@ws-warden/protocol'
import type { LiveConnection } from '../connection.js'
import { ForbiddenError } from '../errors.js'
import type { WardenOptions } from '../options.js'
import type { Resumption } from '../resumption.js'
import type { TopicSubscriptions } from '../topics.js'
import type { Connection } from '../types.js'
import type { WardenRuntime } from './runtime.js'

export interface ChannelDeps<TData> {
  readonly authorize: WardenOptions<TData>['authorizeChannel']
  /** Broker subscriptions (a broker is configured). */
  readonly topics: TopicSubscriptions | undefined
  /** The resumption engine (resumption on). */
  readonly resumption: Resumption<TData> | undefined
}

/** Joins and leaves channels for the connections of one warden. */
export class Channels<TData> {
  readonly #runtime: WardenRuntime<TData>
  readonly #deps: ChannelDeps<TData>

  constructor(runtime: WardenRuntime<TData>, deps: ChannelDeps<TData>) {
    this.#runtime = runtime
    this.#deps = deps
  }

  /**
   * Adds a connection to a channel, after the `authorizeChannel` check (rejects with
   * `ForbiddenError`). Resolves once the membership is recorded and this instance receives the
   * channel's messages from other instances.
   */
  async join(connection: Connection<TData>, channel: string): Promise<void> {
    const live = this.#live(connection)
    if (!live || live.channels.has(channel)) return
    const { authorize, topics } = this.#deps
    if (authorize && !(await authorize(live, channel))) {
      throw new ForbiddenError('not allowed to join this channel')
    }
    if (!live.open || !live.addChannel(channel)) return
    const runtime = this.#runtime
    const first = runtime.registry.join(live, channel)
    const writes: Promise<unknown>[] = [
      runtime.guard('sessions', 'join', () => runtime.stores.sessions.join(live.id, channel)),
    ]
    if (first && topics) writes.push(topics.acquire(streamOf.channel(channel)))
    await Promise.all(writes)
    // After the broker subscription: every later frame of the channel is delivered or replayable.
    if (live.session) {
      runtime.background(this.#deps.resumption!.joined(live, live.session, channel))
    }
  }

  /** Removes a connection from a channel. */
  async leave(connection: Connection<TData>, channel: string): Promise<void> {
    const live = this.#live(connection)
    if (!live || !live.removeChannel(channel)) return
    const runtime = this.#runtime
    const { topics } = this.#deps
    const emptied = runtime.registry.leave(live, channel)
    const writes: Promise<unknown>[] = [
      runtime.guard('sessions', 'leave', () => runtime.stores.sessions.leave(live.id, channel)),
    ]
    if (emptied && topics) writes.push(topics.release(streamOf.channel(channel)))
    await Promise.all(writes)
    if (live.session) {
      runtime.background(this.#deps.resumption!.left(live, live.session, channel))
    }
  }

  /** The live connection behind a `Connection`, if it is still this instance's. */
  #live(connection: Connection<TData>): LiveConnection<TData> | undefined {
    const live = this.#runtime.registry.get(connection.id)
    return live === connection ? live : undefined
  }
}
