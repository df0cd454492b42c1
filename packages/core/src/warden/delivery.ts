/**
 * Delivery and fan-out: sends to one connection, a user, a channel or everyone, on this instance
 * and (through the broker) on every other; records each fan-out frame in its stream's history
 * first (resumption on); delivers what other instances publish; relays `disconnectUser`.
 *
 * @module
 */
import type { Envelope } from '@ws-warden/protocol'
import {
  ALL_STREAM,
  CloseCode,
  CONTROL_TOPIC,
  limitCloseReason,
  parseStream,
  streamOf,
  withPosition,
} from '@ws-warden/protocol'
import type { LiveConnection } from '../connection.js'
import { TextFrame } from '../frame.js'
import type { Resumption } from '../resumption.js'
import type { TopicSubscriptions } from '../topics.js'
import type { TracerSpan } from '../tracing.js'
import { inSpan, SpanAttribute, SpanName } from '../tracing.js'
import type { DeliveryOptions } from '../types.js'
import type { WardenRuntime } from './runtime.js'

/** What a broker carries between instances. */
interface FanoutPayload {
  /** Origin instance: an instance ignores its own payloads (it delivered locally already). */
  readonly o: string
  /** The serialized frame to deliver. */
  readonly d?: string
  /** Connection ids excluded. */
  readonly x?: readonly string[]
  /** The frame's seq in the topic's stream (resumption on). */
  readonly q?: number
  /** Control operation. */
  readonly op?: 'disconnect'
  readonly user?: string
  readonly code?: number
  readonly reason?: string
}

/** Fan-out for the connections of one warden. */
export class Delivery<TData> {
  readonly #runtime: WardenRuntime<TData>
  readonly #resumption: Resumption<TData> | undefined

  constructor(runtime: WardenRuntime<TData>, resumption: Resumption<TData> | undefined) {
    this.#runtime = runtime
    this.#resumption = resumption
  }

  /**
   * Subscribes to the topics every instance listens on (everyone, control); resolves once they
   * are active.
   */
  listen(topics: TopicSubscriptions): Promise<void> {
    return Promise.all([topics.acquire(ALL_STREAM), topics.acquire(CONTROL_TOPIC)]).then(
      () => undefined,
    )
  }

  /** Sends to one connection of this instance. */
  send(connectionId: string, message: Envelope): boolean {
    return this.#runtime.registry.get(connectionId)?.send(message) ?? false
  }

  toUser(userId: string, message: Envelope, options?: DeliveryOptions): Promise<number> {
    const targets = this.#runtime.registry.ofUser(userId)
    return this.#traced('user', streamOf.user(userId), targets, message, options)
  }

  toChannel(channel: string, message: Envelope, options?: DeliveryOptions): Promise<number> {
    const targets = this.#runtime.registry.inChannel(channel)
    return this.#traced('channel', streamOf.channel(channel), targets, message, options)
  }

  broadcast(message: Envelope, options?: DeliveryOptions): Promise<number> {
    return this.#traced('all', ALL_STREAM, this.#runtime.registry.all(), message, options)
  }

  /** Closes every connection of a user, on every instance. */
  async disconnectUser(userId: string, code: number, reason: string): Promise<void> {
    this.#closeUser(userId, code, reason)
    const { broker } = this.#runtime.stores
    if (broker) {
      const payload: FanoutPayload = {
        o: this.#runtime.instanceId,
        op: 'disconnect',
        user: userId,
        code,
        reason,
      }
      await this.#runtime.guard('broker', 'publish', () =>
        broker.publish(CONTROL_TOPIC, JSON.stringify(payload)),
      )
    }
  }

  /** What another instance published on a topic this instance subscribes to. */
  fromBroker(topic: string, raw: string): void {
    let payload: FanoutPayload
    try {
      payload = JSON.parse(raw) as FanoutPayload
    } catch (error) {
      this.#runtime.reportError(error)
      return
    }
    if (payload.o === this.#runtime.instanceId) return
    if (payload.op === 'disconnect') {
      if (payload.user !== undefined) this.#closeUser(payload.user, payload.code, payload.reason)
      return
    }
    if (payload.d === undefined) return
    this.#deliver(this.#localTargets(topic), TextFrame.of(payload.d), payload.x, topic, payload.q)
  }

  /**
   * A fan-out, in a `ws-warden.deliver` span when there is a tracer: its target kind (never the
   * user id or channel name), whether it went through the broker, whether history recorded it,
   * and how many connections of this instance it was handed to.
   */
  #traced(
    target: 'user' | 'channel' | 'all',
    topic: string,
    targets: Iterable<LiveConnection<TData>>,
    message: Envelope,
    options: DeliveryOptions | undefined,
  ): Promise<number> {
    const { tracer } = this.#runtime
    if (tracer === undefined) return this.#fanout(topic, targets, message, options, undefined)
    const attributes = {
      [SpanAttribute.Target]: target,
      [SpanAttribute.BrokerPublish]: this.#runtime.stores.broker !== undefined,
    }
    return inSpan(tracer, SpanName.Deliver, attributes, async (span) => {
      const delivered = await this.#fanout(topic, targets, message, options, span)
      span.setAttribute(SpanAttribute.Recipients, delivered)
      return delivered
    })
  }

  async #fanout(
    topic: string,
    targets: Iterable<LiveConnection<TData>>,
    message: Envelope,
    options: DeliveryOptions | undefined,
    span: TracerSpan | undefined,
  ): Promise<number> {
    const runtime = this.#runtime
    let text = JSON.stringify(message)
    let seq: number | undefined
    if (this.#resumption) {
      // Recorded once per publish, before delivery, so that the frame carries its position.
      // Without the history store the frame still goes out, unrecorded (and unreplayable).
      seq = await this.#resumption.append(topic, text, this.#historyExcept(options?.except)).then(
        (position) => position,
        (error: unknown) => {
          runtime.reportError(error)
          span?.recordException(error as Error)
          return undefined
        },
      )
      span?.setAttribute(SpanAttribute.Recorded, seq !== undefined)
      if (seq !== undefined) text = withPosition(text, topic, seq)
    }
    const { broker } = runtime.stores
    if (broker) {
      const base: FanoutPayload =
        seq === undefined
          ? { o: runtime.instanceId, d: text }
          : { o: runtime.instanceId, d: text, q: seq }
      const payload: FanoutPayload = options?.except ? { ...base, x: options.except } : base
      await runtime.guard('broker', 'publish', () => broker.publish(topic, JSON.stringify(payload)))
    }
    // Only once the other instances have it: a publish that failed delivered nowhere.
    return this.#deliver(targets, TextFrame.of(text), options?.except, topic, seq)
  }

  /** Sends one frame, serialized and framed once, to every target not excluded. */
  #deliver(
    targets: Iterable<LiveConnection<TData>>,
    frame: TextFrame,
    except: readonly string[] | undefined,
    stream?: string,
    seq?: number,
  ): number {
    const excluded = except && except.length > 0 ? new Set(except) : undefined
    let delivered = 0
    for (const connection of targets) {
      if (excluded?.has(connection.id)) continue
      if (connection.sendFrame(frame, stream, seq)) delivered++
    }
    return delivered
  }

  /** This instance's connections addressed by a topic. */
  #localTargets(topic: string): Iterable<LiveConnection<TData>> {
    const { registry } = this.#runtime
    const target = parseStream(topic)
    if (target?.kind === 'all') return registry.all()
    if (target?.kind === 'channel') return registry.inChannel(target.channel)
    if (target?.kind === 'user') return registry.ofUser(target.userId)
    return []
  }

  /**
   * A fan-out's exclusions as history records them: the connection ids, and the session ids of
   * the excluded connections of this instance (a connection id changes with every resumption).
   */
  #historyExcept(except: readonly string[] | undefined): readonly string[] | undefined {
    if (!except || except.length === 0) return undefined
    const ids = [...except]
    for (const id of except) {
      const session = this.#runtime.registry.get(id)?.sessionId
      if (session !== undefined) ids.push(session)
    }
    return ids
  }

  #closeUser(userId: string, code = CloseCode.Forbidden as number, reason = ''): void {
    for (const connection of [...this.#runtime.registry.ofUser(userId)]) {
      connection.close(code, limitCloseReason(reason))
    }
  }
}
