/**
 * The public `Warden`: a facade that builds a warden's parts (runtime, admission, connections,
 * channels, delivery, pulse, sweeping, resumption wiring, shutdown; see `src/warden/`) and
 * delegates to them. Adapters call `admit`, then `attach`; applications use the rest.
 *
 * @module
 */
import type { Envelope } from '@ws-warden/protocol'
import { CloseCode } from '@ws-warden/protocol'
import type { WebSocket } from 'ws'
import type { WardenWsOptions } from './adapter/subprotocol.js'
import { selectSubprotocol } from './adapter/subprotocol.js'
import type { Admitter } from './admission.js'
import type { Heartbeat } from './heartbeat.js'
import type { MessageDispatcher } from './messages.js'
import type { WardenOptions } from './options.js'
import type { WardenObserver } from './observer.js'
import type { SweepOptions, SweepReport } from './sweep.js'
import type { IssuedToken } from './tokens.js'
import { tracedAdmission } from './tracing.js'
import { TopicSubscriptions } from './topics.js'
import type {
  Admission,
  Connection,
  DeliveryOptions,
  EndpointOptions,
  HandlerWarden,
  Principal,
  ShutdownReport,
  Ticket,
  UpgradeRequest,
  WardenStats,
} from './types.js'
import { createAdmitter, createRefresher } from './warden/admitting.js'
import { Channels } from './warden/channels.js'
import { Connections } from './warden/connections.js'
import { Delivery } from './warden/delivery.js'
import { createDispatcher } from './warden/messaging.js'
import { startPulse } from './warden/pulse.js'
import { WardenRuntime } from './warden/runtime.js'
import { ResumptionWiring } from './warden/sessions.js'
import { shutDown } from './warden/shutdown.js'
import { Sweeping } from './warden/sweeping.js'

/**
 * The engine. Adapters call {@link Warden.admit} with the upgrade request, answer a rejection
 * with its status, and hand the accepted socket to {@link Warden.attach}. Everything else
 * (limits, heartbeats, fan-out, shutdown) happens here.
 */
export class Warden<TData = Record<string, unknown>> implements HandlerWarden<TData> {
  readonly instanceId: string
  /**
   * Options `ws` must be given (`maxPayload`, no permessage-deflate) and the subprotocol
   * negotiation (`handleProtocols`: `ws-warden.v1` when offered); adapters pass them on.
   */
  readonly wsOptions: WardenWsOptions

  readonly #runtime: WardenRuntime<TData>
  readonly #admitter: Admitter
  readonly #connections: Connections<TData>
  readonly #channels: Channels<TData>
  readonly #delivery: Delivery<TData>
  readonly #dispatcher: MessageDispatcher<TData>
  readonly #sweeping: Sweeping<TData>
  readonly #heartbeat: Heartbeat | undefined
  readonly #topics: TopicSubscriptions | undefined
  readonly #brokerReady: Promise<void> = Promise.resolve()

  constructor(options: WardenOptions<TData>) {
    const runtime = new WardenRuntime<TData>(options)
    this.#runtime = runtime
    this.instanceId = runtime.instanceId
    this.wsOptions = {
      maxPayload: runtime.options.limits.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: selectSubprotocol(),
    }
    const { broker } = runtime.stores
    const topics = broker
      ? new TopicSubscriptions(broker, (topic) => (payload) => delivery.fromBroker(topic, payload))
      : undefined
    this.#topics = topics

    const sessions = runtime.options.resumption
      ? new ResumptionWiring<TData>(runtime, {
          subscribed: async (streams) => {
            for (const stream of streams) await topics?.ready(stream)
          },
          join: (connection, channel) => this.#channels.join(connection, channel),
          resumeMessages: (connection) => void this.#dispatcher.resume(connection),
        })
      : undefined
    const resumption = sessions?.resumption
    const refresher = createRefresher(runtime)
    this.#admitter = createAdmitter(runtime, options, sessions)
    this.#channels = new Channels(runtime, {
      authorize: options.authorizeChannel,
      topics,
      resumption,
    })
    const delivery = new Delivery(runtime, resumption)
    this.#delivery = delivery
    this.#connections = new Connections(runtime, {
      createData: options.createData,
      topics,
      refresher,
      sessions,
      received: (connection, data, isBinary) =>
        this.#dispatcher.receive(connection, data, isBinary),
    })
    this.#dispatcher = createDispatcher(runtime, options.handlers ?? {}, refresher, this)
    this.#heartbeat = startPulse(runtime, refresher, sessions)
    if (topics) {
      this.#brokerReady = delivery.listen(topics)
      this.#brokerReady.catch((error: unknown) => runtime.reportError(error))
    }
    this.#sweeping = new Sweeping(runtime)
    this.#sweeping.start()
  }

  /**
   * Watches what happens (admissions, connections, bytes, store errors, sweeps) without taking
   * part: the feed of `@ws-warden/core/prometheus`. Returns a function that stops it.
   */
  observe(observer: WardenObserver): () => void {
    const { observers } = this.#runtime
    observers.add(observer)
    return () => void observers.delete(observer)
  }

  /**
   * Removes stale records from the stores and returns how many of each kind. This instance's
   * live sessions are touched first, so a sweep never removes them.
   */
  sweep(options: SweepOptions = {}): Promise<SweepReport> {
    return this.#sweeping.sweep(options)
  }

  /**
   * Sweeps only if no other instance sharing the lock store is sweeping: resolves the report, or
   * null when another instance holds the lock.
   */
  sweepExclusive(options: SweepOptions = {}): Promise<SweepReport | null> {
    return this.#sweeping.exclusive(options)
  }

  /** Resolves once broker subscriptions are active (at once without a broker). */
  ready(): Promise<void> {
    return this.#brokerReady
  }

  /** True once shutdown has begun. */
  get isClosing(): boolean {
    return this.#runtime.closing !== undefined
  }

  /**
   * Issues a single-use connect token for a principal that the application has already
   * authenticated (the token endpoint). The token is short-lived (`tokens.ttlSeconds`).
   */
  issueToken(principal: Principal, options?: { ttlSeconds?: number }): Promise<IssuedToken> {
    return this.#runtime.tokens.issue(principal, options)
  }

  /**
   * Runs the admission pipeline on an upgrade request. Resolves to a ticket or to the error to
   * answer with (its `status` before the upgrade, its `closeCode` after). Never rejects.
   */
  async admit(request: UpgradeRequest, endpoint?: EndpointOptions): Promise<Admission> {
    const { observers, tracer } = this.#runtime
    if (observers.size === 0 && tracer === undefined) return this.#admitter.admit(request, endpoint)
    const started = performance.now()
    const admission = await (tracer === undefined
      ? this.#admitter.admit(request, endpoint)
      : tracedAdmission(tracer, () => this.#admitter.admit(request, endpoint)))
    const duration = performance.now() - started
    for (const observer of observers) {
      if (admission.ok) observer.admitted?.(duration)
      else observer.rejected?.(admission.error.code, duration)
    }
    return admission
  }

  /**
   * {@link admit}, answered in this tick when every step can be: an HS256 secret (not a key
   * pair or key set, which verify with a promise), the warden's
   * own memory stores (or a `MemoryAdmissionStore`), no `onAdmit` hook, no resumption, no
   * observer and no tracer. Otherwise, and for a refused token, the promise `admit` gives. For
   * adapters, which can then complete the handshake in the tick of the upgrade event.
   */
  admitNow(request: UpgradeRequest, endpoint?: EndpointOptions): Admission | Promise<Admission> {
    const { observers, tracer } = this.#runtime
    if (observers.size > 0 || tracer !== undefined) return this.admit(request, endpoint)
    return this.#admitter.admitNow(request, endpoint)
  }

  /**
   * Takes over an upgraded socket admitted with `ticket`. Listeners are attached synchronously,
   * so no early message is lost. Returns undefined (and closes the socket) if the ticket expired,
   * was already used, or the warden is shutting down.
   */
  attach(socket: WebSocket, ticket: Ticket): Connection<TData> | undefined {
    return this.#connections.attach(socket, this.#admitter.claim(ticket))
  }

  /** A connection of this instance, by id. */
  get(id: string): Connection<TData> | undefined {
    return this.#runtime.registry.get(id)
  }

  /** Every connection of this instance. */
  connections(): IterableIterator<Connection<TData>> {
    return this.#runtime.registry.all()
  }

  /** This instance's connections of one user. */
  connectionsOf(userId: string): ReadonlySet<Connection<TData>> {
    return this.#runtime.registry.ofUser(userId)
  }

  /**
   * Adds a connection to a channel, after the `authorizeChannel` check (rejects with
   * `ForbiddenError`). Resolves once the membership is recorded and this instance receives the
   * channel's messages from other instances.
   */
  join(connection: Connection<TData>, channel: string): Promise<void> {
    return this.#channels.join(connection, channel)
  }

  /** Removes a connection from a channel. */
  leave(connection: Connection<TData>, channel: string): Promise<void> {
    return this.#channels.leave(connection, channel)
  }

  /** Sends to one connection of this instance. */
  send(connectionId: string, message: Envelope): boolean {
    return this.#delivery.send(connectionId, message)
  }

  /**
   * Sends to every connection of a user, on every instance. Resolves to the number of local
   * deliveries.
   */
  toUser(userId: string, message: Envelope, options?: DeliveryOptions): Promise<number> {
    return this.#delivery.toUser(userId, message, options)
  }

  /** Sends to every member of a channel, on every instance. */
  toChannel(channel: string, message: Envelope, options?: DeliveryOptions): Promise<number> {
    return this.#delivery.toChannel(channel, message, options)
  }

  /** Sends to every connection, on every instance. */
  broadcast(message: Envelope, options?: DeliveryOptions): Promise<number> {
    return this.#delivery.broadcast(message, options)
  }

  /** Closes every connection of a user, on every instance. */
  disconnectUser(userId: string, code: number = CloseCode.Forbidden, reason = ''): Promise<void> {
    return this.#delivery.disconnectUser(userId, code, reason)
  }

  /** Counts for this instance and, through the session store, for the cluster. */
  async stats(): Promise<WardenStats> {
    const runtime = this.#runtime
    const cluster = await runtime.guard('sessions', 'stats', () => runtime.stores.sessions.stats())
    const { registry } = runtime
    return {
      instance: {
        connections: registry.size,
        users: registry.userCount,
        channels: registry.channelCounts(),
      },
      cluster,
    }
  }

  /**
   * Graceful shutdown: admits nobody (503), closes every connection with `shutdown.closeCode`
   * spread over `shutdown.drainMs`, waits up to `shutdown.timeoutMs`, terminates the rest,
   * removes their records and closes the stores it created. Idempotent: every call returns the
   * same report.
   */
  close(): Promise<ShutdownReport> {
    const runtime = this.#runtime
    runtime.closing ??= shutDown(runtime, {
      stop: () => {
        this.#heartbeat?.stop()
        this.#sweeping.stop()
        this.#admitter.releaseAll()
      },
      unsubscribe: async () => {
        await this.#topics?.releaseAll()
      },
    })
    return runtime.closing
  }
}

/** Creates a warden; see {@link WardenOptions}. Throws `TypeError` naming a bad option. */
export function createWarden<TData = Record<string, unknown>>(
  options: WardenOptions<TData>,
): Warden<TData> {
  return new Warden<TData>(options)
}
