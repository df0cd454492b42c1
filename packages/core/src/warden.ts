import type { Envelope } from '@ws-warden/protocol'
import {
  ALL_STREAM,
  CloseCode,
  CONTROL_TOPIC,
  ErrorCode,
  FrameType,
  limitCloseReason,
  parseStream,
  reconnectPolicy,
  streamOf,
  withPosition,
} from '@ws-warden/protocol'
import { randomUUID } from 'node:crypto'
import type { WebSocket } from 'ws'
import { Admitter, checkPermissions } from './admission.js'
import { createClientIpResolver } from './client-ip.js'
import type { ConnectionHost } from './connection.js'
import { LiveConnection } from './connection.js'
import { ForbiddenError, ShuttingDownError } from './errors.js'
import { TextFrame } from './frame.js'
import { Heartbeat } from './heartbeat.js'
import { silentLogger } from './logger.js'
import {
  MemoryHistoryStore,
  MemoryLockStore,
  MemoryRateLimitStore,
  MemoryResumeStore,
  MemorySessionStore,
  MemoryTokenStore,
} from './memory/index.js'
import { MessageDispatcher, unknownType } from './messages.js'
import type { ResolvedOptions, WardenHooks, WardenOptions } from './options.js'
import { resolveOptions } from './options.js'
import { TokenRefresh } from './refresh.js'
import { Registry } from './registry.js'
import type { ClaimedSession } from './resumption.js'
import { Resumption } from './resumption.js'
import { drain } from './shutdown.js'
import { guardStore } from './store-guard.js'
import { StoreUnavailableError } from './errors.js'
import type {
  Broker,
  LockStore,
  RateLimitStore,
  SessionStats,
  SessionStore,
  TokenStore,
} from './stores.js'
import type { SweepOptions, SweepReport, WardenObserver } from './sweep.js'
import { resolveSweep, SWEEP_LOCK } from './sweep.js'
import type { IssuedToken } from './tokens.js'
import { ConnectTokens } from './tokens.js'
import { TopicSubscriptions } from './topics.js'
import type {
  Admission,
  Clock,
  Connection,
  DeliveryOptions,
  DisconnectCause,
  EndpointOptions,
  Logger,
  Principal,
  ShutdownReport,
  Ticket,
  UpgradeRequest,
} from './types.js'

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

/** Counts of this instance and of the cluster (through the session store). */
export interface WardenStats {
  readonly instance: SessionStats
  readonly cluster: SessionStats
}


/**
 * The engine. Adapters call {@link Warden.admit} with the upgrade request, answer a rejection
 * with its status, and hand the accepted socket to {@link Warden.attach}. Everything else
 * (limits, heartbeats, fan-out, shutdown) happens here.
 */
export class Warden<TData = Record<string, unknown>> {
  readonly instanceId: string
  /** Options `ws` must be given (`maxPayload`, no permessage-deflate); adapters pass them on. */
  readonly wsOptions: { readonly maxPayload: number; readonly perMessageDeflate: false }

  private readonly options: ResolvedOptions
  private readonly hooks: WardenHooks<TData>
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly tokens: ConnectTokens
  private readonly sessions: SessionStore
  private readonly tokenStore: TokenStore
  private readonly rateLimits: RateLimitStore
  private readonly broker: Broker | undefined
  private readonly locks: LockStore
  private readonly observers = new Set<WardenObserver>()
  private sweepTimer: NodeJS.Timeout | undefined
  private readonly ownedStores: { close(): Promise<void> }[] = []
  private readonly registry = new Registry<LiveConnection<TData>>()
  private readonly admitter: Admitter
  private readonly dispatcher: MessageDispatcher<TData>
  private readonly heartbeat: Heartbeat | undefined
  private readonly topics: TopicSubscriptions | undefined
  private readonly host: ConnectionHost<TData>
  private readonly createData: ((principal: Principal) => TData) | undefined
  private readonly authorizeChannel: WardenOptions<TData>['authorizeChannel']
  private readonly resumption: Resumption<TData> | undefined
  private readonly refresher: TokenRefresh | undefined
  /** Store writes started in the background (removals, joins), awaited on shutdown. */
  private readonly inFlight = new Set<Promise<unknown>>()
  private closing: Promise<ShutdownReport> | undefined
  private brokerReady: Promise<void> = Promise.resolve()

  constructor(options: WardenOptions<TData>) {
    this.options = resolveOptions(options as WardenOptions<unknown>, randomUUID)
    this.instanceId = this.options.instanceId
    this.hooks = options.hooks ?? {}
    this.logger = options.logger ?? silentLogger
    this.clock = options.clock ?? Date
    this.tokens = new ConnectTokens(options.tokens, this.clock)
    this.createData = options.createData
    this.authorizeChannel = options.authorizeChannel
    const stores = options.stores ?? {}
    this.sessions = stores.sessions ?? this.own(new MemorySessionStore())
    this.tokenStore = stores.tokens ?? this.own(new MemoryTokenStore({ clock: this.clock }))
    this.rateLimits = stores.rateLimits ?? this.own(new MemoryRateLimitStore({ clock: this.clock }))
    this.broker = stores.broker
    this.locks = stores.locks ?? this.own(new MemoryLockStore({ clock: this.clock }))
    this.wsOptions = { maxPayload: this.options.limits.maxMessageBytes, perMessageDeflate: false }

    if (this.options.resumption) {
      // Resumption needs heartbeats (resolveOptions checks): they keep live sessions resumable.
      const { intervalMs, timeoutMs } = this.options.heartbeat as {
        intervalMs: number
        timeoutMs: number
      }
      this.resumption = new Resumption<TData>({
        options: this.options.resumption,
        history: stores.history ?? this.own(new MemoryHistoryStore({ clock: this.clock })),
        resumes: stores.resumes ?? this.own(new MemoryResumeStore({ clock: this.clock })),
        guard: (store, operation) => this.guard(store, operation),
        now: () => this.clock.now(),
        liveMarginMs: intervalMs + timeoutMs,
        subscribed: async (streams) => {
          for (const stream of streams) await this.topics?.ready(stream)
        },
        rejoin: (connection, channel) => this.rejoin(connection, channel),
      })
    }
    if (this.options.refresh) {
      this.refresher = new TokenRefresh({
        options: this.options.refresh,
        tokens: this.tokens,
        tokenStore: this.tokenStore,
        guard: (store, operation) => this.guard(store, operation),
        now: () => this.clock.now(),
        checkPermissions: (principal, endpoint) =>
          checkPermissions(principal, this.options.permissions, endpoint),
        ...(this.hooks.onAdmit && { onAdmit: this.hooks.onAdmit }),
        onError: (error, connection) =>
          this.reportError(error, connection as LiveConnection<TData>),
      })
    }

    const resolveIp = createClientIpResolver(options.trustProxy ?? false)
    this.admitter = new Admitter({
      options: this.options,
      tokens: this.tokens,
      sessions: this.sessions,
      tokenStore: this.tokenStore,
      rateLimits: this.rateLimits,
      hooks: {
        ...(this.hooks.onAdmit && { onAdmit: this.hooks.onAdmit }),
        onReject: (info) => {
          if (info.error.status >= 500 && info.error.cause !== undefined)
            this.reportError(info.error)
          this.logger.info(
            {
              event: 'reject',
              reason: info.error.code,
              status: info.error.status,
              userId: info.userId,
            },
            'connection rejected',
          )
          this.safely(() => this.hooks.onReject?.(info))
        },
      },
      resolveIp,
      guard: (store, operation) => this.guard(store, operation),
      now: () => this.clock.now(),
      isClosing: () => this.closing !== undefined,
      dropReservation: (id) =>
        this.background(this.guard('sessions', () => this.sessions.remove(id))),
      ...(this.resumption && {
        claimSession: (url: string, userId: string) => this.resumption!.claim(url, userId),
        unclaimSession: (claimed: ClaimedSession) =>
          this.background(this.resumption!.unclaim(claimed)),
      }),
    })

    this.host = {
      maxBufferedBytes: this.options.send.maxBufferedBytes,
      sendTimeoutMs: this.options.send.timeoutMs,
      now: () => this.clock.now(),
      ended: (connection, cause, code) => this.ended(connection, cause, code),
      sent: (bytes) => {
        if (this.observers.size === 0) return
        for (const observer of this.observers) observer.sent?.(bytes)
      },
      received: (connection, data, isBinary) => {
        if (this.observers.size > 0) this.observeReceived(data as Buffer)
        this.dispatcher.receive(connection, data, isBinary)
      },
      socketError: (connection, error) => {
        this.logger.debug({
          event: 'socket_error',
          connectionId: connection.id,
          err: error.message,
        })
      },
    }
    const { limits } = this.options
    this.dispatcher = new MessageDispatcher<TData>({
      handlers: options.handlers ?? {},
      maxMessageBytes: limits.maxMessageBytes,
      messagesPerSecond: limits.messagesPerSecond,
      messageBurst: limits.messageBurst,
      maxReadPauseMs: this.options.heartbeat
        ? Math.max(1, Math.floor(this.options.heartbeat.timeoutMs / 2))
        : Infinity,
      now: () => this.clock.now(),
      context: (connection, message) => ({
        connection,
        message,
        warden: this,
        reply: (reply: Envelope) => connection.send(reply),
      }),
      ...(this.hooks.onMessage && { onMessage: this.hooks.onMessage }),
      onError: (error, connection) => this.reportError(error, connection),
      reserved: (connection, message) => this.reserved(connection, message),
    })

    if (this.options.heartbeat) {
      const { intervalMs, timeoutMs } = this.options.heartbeat
      this.heartbeat = new Heartbeat(intervalMs, timeoutMs, this.pulse(), () => this.clock.now())
      this.heartbeat.start()
    }
    if (this.broker) {
      this.topics = new TopicSubscriptions(
        this.broker,
        (topic) => (payload) => this.fromBroker(topic, payload),
      )
      this.brokerReady = Promise.all([
        this.topics.acquire(ALL_STREAM),
        this.topics.acquire(CONTROL_TOPIC),
      ]).then(() => undefined)
      this.brokerReady.catch((error: unknown) => this.reportError(error))
    }
    if (this.options.sweeper) {
      const sweeper = this.options.sweeper
      this.sweepTimer = setInterval(() => {
        this.sweepExclusive(sweeper).catch((error: unknown) => this.reportError(error))
      }, sweeper.intervalMs)
      this.sweepTimer.unref()
    }
  }

  /**
   * Watches what happens (admissions, connections, bytes, store errors, sweeps) without taking
   * part: the feed of `@ws-warden/core/prometheus`. Returns a function that stops it.
   */
  observe(observer: WardenObserver): () => void {
    this.observers.add(observer)
    return () => void this.observers.delete(observer)
  }

  /**
   * Removes stale records from the stores and returns how many of each kind. This instance's
   * live sessions are touched first, so a sweep never removes them.
   */
  async sweep(options: SweepOptions = {}): Promise<SweepReport> {
    const heartbeat = this.options.heartbeat
    const settings = resolveSweep(options, heartbeat ? heartbeat.intervalMs : 25_000)
    const started = this.clock.now()
    const live = [...this.registry.all()].map((connection) => connection.id)
    if (settings.sessions && live.length > 0) {
      await this.guard('sessions', () => this.sessions.touch(live, started))
    }
    const [sessions, tokens, rateLimits] = await Promise.all([
      settings.sessions
        ? this.guard('sessions', () => this.sessions.sweep(started - settings.sessionStaleMs))
        : 0,
      settings.tokens
        ? this.guard('tokens', () => this.tokenStore.sweep(started - settings.tokenAgeMs))
        : 0,
      settings.rateLimits
        ? this.guard('rateLimits', () => this.rateLimits.sweep(started - settings.rateLimitAgeMs))
        : 0,
    ])
    const report: SweepReport = {
      sessions,
      tokens,
      rateLimits,
      durationMs: this.clock.now() - started,
    }
    this.logger.info({ event: 'sweep', ...report }, 'sweep complete')
    for (const observer of this.observers) observer.swept?.(report)
    return report
  }

  /**
   * Sweeps only if no other instance sharing the lock store is sweeping: resolves the report, or
   * null when another instance holds the lock.
   */
  async sweepExclusive(options: SweepOptions = {}): Promise<SweepReport | null> {
    const lockMs = Math.max(60_000, this.options.storeTimeoutMs * 10)
    const release = await this.guard('locks', () => this.locks.acquire(SWEEP_LOCK, lockMs))
    if (!release) return null
    try {
      return await this.sweep(options)
    } finally {
      await release().catch((error: unknown) => this.reportError(error))
    }
  }

  /** Resolves once broker subscriptions are active (at once without a broker). */
  ready(): Promise<void> {
    return this.brokerReady
  }

  /** True once shutdown has begun. */
  get isClosing(): boolean {
    return this.closing !== undefined
  }

  /**
   * Issues a single-use connect token for a principal that the application has already
   * authenticated (the token endpoint). The token is short-lived (`tokens.ttlSeconds`).
   */
  issueToken(principal: Principal, options?: { ttlSeconds?: number }): Promise<IssuedToken> {
    return this.tokens.issue(principal, options)
  }

  /**
   * Runs the admission pipeline on an upgrade request. Resolves to a ticket or to the error to
   * answer with (its `status` before the upgrade, its `closeCode` after). Never rejects.
   */
  async admit(request: UpgradeRequest, endpoint?: EndpointOptions): Promise<Admission> {
    if (this.observers.size === 0) return this.admitter.admit(request, endpoint)
    const started = performance.now()
    const admission = await this.admitter.admit(request, endpoint)
    const duration = performance.now() - started
    for (const observer of this.observers) {
      if (admission.ok) observer.admitted?.(duration)
      else observer.rejected?.(admission.error.code, duration)
    }
    return admission
  }

  /**
   * Takes over an upgraded socket admitted with `ticket`. Listeners are attached synchronously,
   * so no early message is lost. Returns undefined (and closes the socket) if the ticket expired,
   * was already used, or the warden is shutting down.
   */
  attach(socket: WebSocket, ticket: Ticket): Connection<TData> | undefined {
    const pending = this.admitter.claim(ticket)
    if (!pending || this.closing) {
      const error = this.closing ? new ShuttingDownError() : undefined
      socket.close(error?.closeCode ?? CloseCode.Unauthorized, error?.code ?? 'ticket_expired')
      if (pending) this.background(this.guard('sessions', () => this.sessions.remove(pending.id)))
      if (pending?.resumed) this.background(this.resumption!.unclaim(pending.resumed))
      return undefined
    }
    const claimed = pending.resumed
    const restored = claimed && 'd' in claimed.state
    const connection = new LiveConnection<TData>({
      id: pending.id,
      principal: pending.principal,
      ip: pending.ip,
      socket,
      ...(restored
        ? { data: claimed.state.d as TData }
        : this.createData && { data: this.createData(pending.principal) }),
      host: this.host,
      burst: this.options.limits.messageBurst,
      tokenExpiresAt: pending.tokenExpiresAt,
    })
    if (this.refresher) {
      connection.endpointPermissions = pending.endpointPermissions
      if (this.hooks.onAdmit) connection.request = pending.request
      this.refresher.extend(connection, pending.tokenExpiresAt)
    }
    if (this.resumption) {
      // Nothing goes out before `$session` (and the replay), and no message is handled before the
      // session's channels are back: both wait until the session has started.
      connection.session = this.resumption.handle(connection, claimed)
      connection.hold()
      connection.busy = true
    }
    connection.listen()
    const firstOfUser = this.registry.add(connection)
    if (firstOfUser && this.topics) this.subscribe(streamOf.user(connection.userId))
    this.logger.info(
      {
        event: 'connect',
        connectionId: connection.id,
        userId: connection.userId,
        connections: this.registry.size,
      },
      'connection opened',
    )
    for (const observer of this.observers) observer.connected?.()
    this.safely(() => this.hooks.onConnect?.(connection))
    if (this.resumption) this.startSession(connection, claimed)
    return connection
  }

  /** A connection of this instance, by id. */
  get(id: string): Connection<TData> | undefined {
    return this.registry.get(id)
  }

  /** Every connection of this instance. */
  connections(): IterableIterator<Connection<TData>> {
    return this.registry.all()
  }

  /** This instance's connections of one user. */
  connectionsOf(userId: string): ReadonlySet<Connection<TData>> {
    return this.registry.ofUser(userId)
  }

  /**
   * Adds a connection to a channel, after the `authorizeChannel` check (rejects with
   * `ForbiddenError`). Resolves once the membership is recorded and this instance receives the
   * channel's messages from other instances.
   */
  async join(connection: Connection<TData>, channel: string): Promise<void> {
    const live = this.live(connection)
    if (!live || live.channels.has(channel)) return
    if (this.authorizeChannel && !(await this.authorizeChannel(live, channel))) {
      throw new ForbiddenError('not allowed to join this channel')
    }
    if (!live.open || !live.addChannel(channel)) return
    const first = this.registry.join(live, channel)
    const writes: Promise<unknown>[] = [
      this.guard('sessions', () => this.sessions.join(live.id, channel)),
    ]
    if (first && this.topics) writes.push(this.topics.acquire(streamOf.channel(channel)))
    await Promise.all(writes)
    // After the broker subscription: every later frame of the channel is delivered or replayable.
    if (live.session) this.background(this.resumption!.joined(live, live.session, channel))
  }

  /** Removes a connection from a channel. */
  async leave(connection: Connection<TData>, channel: string): Promise<void> {
    const live = this.live(connection)
    if (!live || !live.removeChannel(channel)) return
    const emptied = this.registry.leave(live, channel)
    const writes: Promise<unknown>[] = [
      this.guard('sessions', () => this.sessions.leave(live.id, channel)),
    ]
    if (emptied && this.topics) writes.push(this.topics.release(streamOf.channel(channel)))
    await Promise.all(writes)
    if (live.session) this.background(this.resumption!.left(live, live.session, channel))
  }

  /** Sends to one connection of this instance. */
  send(connectionId: string, message: Envelope): boolean {
    return this.registry.get(connectionId)?.send(message) ?? false
  }

  /**
   * Sends to every connection of a user, on every instance. Resolves to the number of local
   * deliveries.
   */
  toUser(userId: string, message: Envelope, options?: DeliveryOptions): Promise<number> {
    return this.fanout(streamOf.user(userId), this.registry.ofUser(userId), message, options)
  }

  /** Sends to every member of a channel, on every instance. */
  toChannel(channel: string, message: Envelope, options?: DeliveryOptions): Promise<number> {
    return this.fanout(streamOf.channel(channel), this.registry.inChannel(channel), message, options)
  }

  /** Sends to every connection, on every instance. */
  broadcast(message: Envelope, options?: DeliveryOptions): Promise<number> {
    return this.fanout(ALL_STREAM, this.registry.all(), message, options)
  }

  /** Closes every connection of a user, on every instance. */
  async disconnectUser(
    userId: string,
    code: number = CloseCode.Forbidden,
    reason = '',
  ): Promise<void> {
    this.closeUser(userId, code, reason)
    if (this.broker) {
      const payload: FanoutPayload = {
        o: this.instanceId,
        op: 'disconnect',
        user: userId,
        code,
        reason,
      }
      await this.guard('broker', () => this.broker!.publish(CONTROL_TOPIC, JSON.stringify(payload)))
    }
  }

  /** Counts for this instance and, through the session store, for the cluster. */
  async stats(): Promise<WardenStats> {
    const cluster = await this.guard('sessions', () => this.sessions.stats())
    return {
      instance: {
        connections: this.registry.size,
        users: this.registry.userCount,
        channels: this.registry.channelCounts(),
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
    this.closing ??= this.shutdown()
    return this.closing
  }

  // --- internal ---

  private async shutdown(): Promise<ShutdownReport> {
    const started = this.clock.now()
    this.heartbeat?.stop()
    clearInterval(this.sweepTimer)
    this.admitter.releaseAll()
    const { closeCode, drainMs, timeoutMs } = this.options.shutdown
    const result = await drain([...this.registry.all()], {
      drainMs,
      timeoutMs,
      close: (connection) => connection.closeWith('shutdown', closeCode, 'server shutting down'),
      terminate: (connection) => connection.cutOff('shutdown'),
      isEnded: (connection) => this.registry.get(connection.id) !== connection,
    })
    await this.settle()
    await this.topics?.releaseAll()
    // Closed last, once every write is done; a failure is counted like any background error.
    for (const store of this.ownedStores) this.background(store.close())
    await this.settle()
    const report: ShutdownReport = {
      closed: result.closed,
      terminated: result.terminated,
      errors: this.backgroundErrors,
      durationMs: this.clock.now() - started,
    }
    this.logger.info({ event: 'shutdown', ...report }, 'shutdown complete')
    return report
  }

  private backgroundErrors = 0

  /** The one removal path, for every way a connection ends. */
  private ended(
    connection: LiveConnection<TData>,
    cause: DisconnectCause,
    socketCode: number,
  ): void {
    const { lastOfUser, emptiedChannels } = this.registry.remove(connection)
    this.background(this.guard('sessions', () => this.sessions.remove(connection.id)))
    if (connection.session) {
      // Kept for `resumption.ttlMs`, unless the end was meant to be final.
      const final =
        (cause === 'server' && reconnectPolicy(socketCode) === 'stop') ||
        (cause === 'client' && socketCode === CloseCode.Normal)
      this.background(this.resumption!.ended(connection, connection.session, final))
    }
    if (this.topics) {
      if (lastOfUser) this.unsubscribe(streamOf.user(connection.userId))
      for (const channel of emptiedChannels) this.unsubscribe(streamOf.channel(channel))
    }
    const code = cause === 'heartbeat' ? CloseCode.HeartbeatTimeout : socketCode
    this.logger.info(
      {
        event: 'disconnect',
        connectionId: connection.id,
        userId: connection.userId,
        cause,
        code,
        connections: this.registry.size,
      },
      'connection closed',
    )
    for (const observer of this.observers) observer.disconnected?.(cause)
    this.safely(() => this.hooks.onDisconnect?.(connection, { cause, code }))
  }

  /** The heartbeat's view of this warden. */
  private pulse(): { ping(now: number): void; check(now: number): void } {
    return {
      ping: (now) => {
        const ids: string[] = []
        const sessions: string[] = []
        for (const connection of this.registry.all()) {
          if (!connection.open) continue
          ids.push(connection.id)
          if (connection.session?.ready) sessions.push(connection.session.id)
          connection.awaitingPong = true
          connection.socket.ping()
          this.refresher?.check(connection, now)
        }
        if (this.resumption) this.pulseSessions(this.resumption, sessions, now)
        if (ids.length > 0)
          this.background(this.guard('sessions', () => this.sessions.touch(ids, now)))
      },
      check: (now) => {
        for (const connection of this.registry.all()) {
          if (connection.awaitingPong) {
            connection.cutOff('heartbeat')
            continue
          }
          if (connection.backloggedSince !== 0) connection.checkBacklog(now)
          this.refresher?.check(connection, now)
        }
      },
    }
  }

  private async fanout(
    topic: string,
    targets: Iterable<LiveConnection<TData>>,
    message: Envelope,
    options?: DeliveryOptions,
  ): Promise<number> {
    let text = JSON.stringify(message)
    let seq: number | undefined
    if (this.resumption) {
      // Recorded once per publish, before delivery, so that the frame carries its position.
      // Without the history store the frame still goes out, unrecorded (and unreplayable).
      seq = await this.resumption.append(topic, text, this.historyExcept(options?.except)).then(
        (position) => position,
        (error: unknown) => {
          this.reportError(error)
          return undefined
        },
      )
      if (seq !== undefined) text = withPosition(text, topic, seq)
    }
    const delivered = this.deliver(targets, TextFrame.of(text), options?.except, topic, seq)
    if (this.broker) {
      const base: FanoutPayload =
        seq === undefined
          ? { o: this.instanceId, d: text }
          : { o: this.instanceId, d: text, q: seq }
      const payload: FanoutPayload = options?.except ? { ...base, x: options.except } : base
      await this.guard('broker', () => this.broker!.publish(topic, JSON.stringify(payload)))
    }
    return delivered
  }

  /** Sends one frame, serialized and framed once, to every target not excluded. */
  private deliver(
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

  private fromBroker(topic: string, raw: string): void {
    let payload: FanoutPayload
    try {
      payload = JSON.parse(raw) as FanoutPayload
    } catch (error) {
      this.reportError(error)
      return
    }
    if (payload.o === this.instanceId) return
    if (payload.op === 'disconnect') {
      if (payload.user !== undefined) this.closeUser(payload.user, payload.code, payload.reason)
      return
    }
    if (payload.d === undefined) return
    this.deliver(this.localTargets(topic), TextFrame.of(payload.d), payload.x, topic, payload.q)
  }

  /** This instance's connections addressed by a topic. */
  private localTargets(topic: string): Iterable<LiveConnection<TData>> {
    const target = parseStream(topic)
    if (target?.kind === 'all') return this.registry.all()
    if (target?.kind === 'channel') return this.registry.inChannel(target.channel)
    if (target?.kind === 'user') return this.registry.ofUser(target.userId)
    return []
  }

  /**
   * A fan-out's exclusions as history records them: the connection ids, and the session ids of
   * the excluded connections of this instance (a connection id changes with every resumption).
   */
  private historyExcept(except: readonly string[] | undefined): readonly string[] | undefined {
    if (!except || except.length === 0) return undefined
    const ids = [...except]
    for (const id of except) {
      const session = this.registry.get(id)?.sessionId
      if (session !== undefined) ids.push(session)
    }
    return ids
  }

  /** Starts a new connection's session: `$session` and the replay first, then the rest. */
  private startSession(
    connection: LiveConnection<TData>,
    claimed: ClaimedSession | undefined,
  ): void {
    const resumption = this.resumption!
    const started = resumption.start(connection, connection.session!, claimed).then(
      (start) => {
        if (!start) return
        connection.release(start.first, start.floors)
        void this.dispatcher.resume(connection)
        if (!start.resumed) return
        const info = start.resumed
        this.logger.info(
          {
            event: 'resume',
            connectionId: connection.id,
            sessionId: connection.sessionId,
            userId: connection.userId,
            missed: info.missed,
            complete: info.complete,
          },
          'session resumed',
        )
        this.safely(() => this.hooks.onResume?.(connection, info))
      },
      (error: unknown) => {
        // A store failed: the client may try again later, with the credential it still holds.
        if (claimed) this.background(resumption.unclaim(claimed))
        connection.closeWith('server', CloseCode.TryAgainLater, ErrorCode.StoreUnavailable)
        throw error
      },
    )
    this.background(started)
  }

  /** Rejoins a channel during a resumption; false if `authorizeChannel` now refuses it. */
  private rejoin(connection: LiveConnection<TData>, channel: string): Promise<boolean> {
    return this.join(connection, channel).then(
      () => connection.channels.has(channel),
      (error: unknown) => {
        if (error instanceof ForbiddenError) return false
        throw error
      },
    )
  }

  /** Keeps live sessions resumable and reports the ones that expired unclaimed. */
  private pulseSessions(resumption: Resumption<TData>, sessions: string[], now: number): void {
    if (sessions.length > 0) this.background(resumption.touch(sessions, now))
    this.background(
      resumption.sweep(now).then((expired) => {
        for (const session of expired) {
          this.logger.info(
            { event: 'resume_expired', sessionId: session.id, userId: session.userId },
            'resumable session expired',
          )
          this.safely(() => this.hooks.onResumeExpired?.(session))
        }
      }),
    )
  }

  /** The core's own frames (`$ping`, `$refresh`); never dispatched to a handler. */
  private reserved(connection: LiveConnection<TData>, message: Envelope): void {
    if (message.type === FrameType.Ping) {
      connection.send({ type: FrameType.Pong })
    } else if (message.type === FrameType.Refresh && this.refresher) {
      void this.refresher.handle(connection, message)
    } else {
      connection.send(unknownType(message.type))
    }
  }

  private closeUser(userId: string, code = CloseCode.Forbidden as number, reason = ''): void {
    for (const connection of [...this.registry.ofUser(userId)]) {
      connection.close(code, limitCloseReason(reason))
    }
  }

  private subscribe(topic: string): void {
    this.background(this.topics!.acquire(topic))
  }

  private unsubscribe(topic: string): void {
    this.background(this.topics!.release(topic))
  }

  private live(connection: Connection<TData>): LiveConnection<TData> | undefined {
    const live = this.registry.get(connection.id)
    return live === connection ? live : undefined
  }

  private guard<T>(store: string, operation: () => Promise<T>): Promise<T> {
    const guarded = guardStore(store, this.options.storeTimeoutMs, operation)
    if (this.observers.size === 0) return guarded
    return guarded.catch((error: unknown) => {
      if (error instanceof StoreUnavailableError) {
        for (const observer of this.observers) observer.storeError?.(error.store)
      }
      throw error
    })
  }

  private observeReceived(data: Buffer): void {
    for (const observer of this.observers) observer.received?.(data.length)
  }

  /** Waits for every background write, including those started while waiting. */
  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
  }

  /** Tracks a background store write; its failure goes to `onError`, never unhandled. */
  private background(work: Promise<unknown>): void {
    const tracked = work.then(
      () => undefined,
      (error: unknown) => {
        this.backgroundErrors++
        this.reportError(error)
      },
    )
    this.inFlight.add(tracked)
    void tracked.finally(() => this.inFlight.delete(tracked))
  }

  private reportError(error: unknown, connection?: Connection<TData>): void {
    this.logger.error(
      {
        event: 'error',
        connectionId: connection?.id,
        err: error instanceof Error ? error.message : String(error),
      },
      'ws-warden error',
    )
    const hook = this.hooks.onError
    if (!hook) return
    try {
      hook(error, connection)
    } catch {
      // A throwing error hook has nowhere left to report to.
    }
  }

  private safely(run: () => void): void {
    try {
      run()
    } catch (error) {
      this.reportError(error)
    }
  }

  private own<TStore extends { close(): Promise<void> }>(store: TStore): TStore {
    this.ownedStores.push(store)
    return store
  }
}

/** Creates a warden; see {@link WardenOptions}. Throws `TypeError` naming a bad option. */
export function createWarden<TData = Record<string, unknown>>(
  options: WardenOptions<TData>,
): Warden<TData> {
  return new Warden<TData>(options)
}
