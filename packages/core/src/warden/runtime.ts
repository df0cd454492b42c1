/**
 * What every part of a warden shares: the resolved options, the stores (and which of them it
 * created), the registry of live connections, the observers, and the error and background-work
 * plumbing (`guard`, `background`, `settle`, `reportError`). Owns no behaviour of its own.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { LiveConnection } from '../connection.js'
import { StoreUnavailableError } from '../errors.js'
import { silentLogger } from '../logger.js'
import {
  MemoryAdmissionStore,
  MemoryHistoryStore,
  MemoryLockStore,
  MemoryRateLimitStore,
  MemoryResumeStore,
  MemorySessionStore,
  MemoryTokenStore,
} from '../memory/index.js'
import type { ResolvedOptions, WardenHooks, WardenOptions } from '../options.js'
import { resolveOptions } from '../options.js'
import { Registry } from '../registry.js'
import { SessionRemovals } from '../session-removals.js'
import { guardStore, inProcessCall } from '../store-guard.js'
import type {
  AdmissionStore,
  Broker,
  HistoryStore,
  LockStore,
  RateLimitStore,
  ResumeStore,
  SessionStore,
  TokenStore,
} from '../store-contracts.js'
import type { WardenObserver } from '../observer.js'
import { ConnectTokens } from '../tokens.js'
import type { SpanTracer } from '../tracing.js'
import { inSpan, snakeCase, SpanAttribute, SpanName } from '../tracing.js'
import type { Clock, Connection, Logger, ShutdownReport } from '../types.js'

/** The stores a warden uses: the ones given, and memory stores for the rest. */
export interface RuntimeStores {
  readonly sessions: SessionStore
  readonly tokens: TokenStore
  readonly rateLimits: RateLimitStore
  /** The one-trip admission: the one given, the memory one on the defaults, or none. */
  readonly admission: AdmissionStore | undefined
  readonly locks: LockStore
  readonly broker: Broker | undefined
  /** Present when resumption is on. */
  readonly history: HistoryStore | undefined
  readonly resumes: ResumeStore | undefined
}

/** The shared state and services of one warden. */
export class WardenRuntime<TData> {
  readonly options: ResolvedOptions
  readonly instanceId: string
  readonly hooks: WardenHooks<TData>
  readonly logger: Logger
  readonly clock: Clock
  readonly tokens: ConnectTokens
  readonly stores: RuntimeStores
  readonly registry = new Registry<LiveConnection<TData>>()
  readonly observers = new Set<WardenObserver>()
  /** Where spans go; undefined (no span is made) without the `tracer` option. */
  readonly tracer: SpanTracer | undefined
  /** Set once shutdown has begun; every call to `close()` returns it. */
  closing: Promise<ShutdownReport> | undefined
  /** Background writes that failed, for the shutdown report. */
  backgroundErrors = 0

  /** Store writes started in the background (removals, joins), awaited on shutdown. */
  readonly #inFlight = new Set<Promise<unknown>>()
  readonly #ownedStores: { close(): Promise<void> }[] = []
  /** The batching of session removals, when the session store has `removeMany`. */
  readonly #removals: SessionRemovals | undefined

  constructor(options: WardenOptions<TData>) {
    this.options = resolveOptions(options as WardenOptions<unknown>, randomUUID)
    this.instanceId = this.options.instanceId
    this.hooks = options.hooks ?? {}
    this.logger = options.logger ?? silentLogger
    this.clock = options.clock ?? Date
    this.tracer = options.tracer
    this.tokens = new ConnectTokens(options.tokens, this.clock)
    const given = options.stores ?? {}
    const clock = this.clock
    const sessions = given.sessions ?? this.#own(new MemorySessionStore())
    const tokens = given.tokens ?? this.#own(new MemoryTokenStore({ clock }))
    const rateLimits = given.rateLimits ?? this.#own(new MemoryRateLimitStore({ clock }))
    this.stores = {
      sessions,
      tokens,
      rateLimits,
      // On its own three memory stores, admission is one synchronous step. Given stores keep
      // their own methods (which a subclass or a test may have replaced): composed, unless
      // `stores.admission` is given.
      admission:
        given.admission ??
        (sessions !== given.sessions && tokens !== given.tokens && rateLimits !== given.rateLimits
          ? new MemoryAdmissionStore({
              sessions: sessions as MemorySessionStore,
              tokens: tokens as MemoryTokenStore,
              rateLimits: rateLimits as MemoryRateLimitStore,
            })
          : undefined),
      broker: given.broker,
      locks: given.locks ?? this.#own(new MemoryLockStore({ clock })),
      history: this.options.resumption
        ? (given.history ?? this.#own(new MemoryHistoryStore({ clock })))
        : undefined,
      resumes: this.options.resumption
        ? (given.resumes ?? this.#own(new MemoryResumeStore({ clock })))
        : undefined,
    }
    this.#removals = SessionRemovals.of(sessions, {
      guard: (operation) => this.guard('sessions', 'removeMany', operation),
      track: (work) => this.background(work),
    })
  }

  /** Removes a session record in the background: batched when the store can, else on its own. */
  removeSession(id: string): void {
    if (this.#removals) this.#removals.remove(id)
    else this.background(this.guard('sessions', 'remove', () => this.stores.sessions.remove(id)))
  }

  now(): number {
    return this.clock.now()
  }

  /**
   * A store call with the store timeout, in a `ws-warden.store` span (tracer set); its duration
   * and failure are reported to the observers. `bounded: false` leaves out the timeout, for an
   * in-process store that answers in the same tick and cannot hang.
   */
  guard<T>(store: string, op: string, operation: () => Promise<T>, bounded = true): Promise<T> {
    const { tracer } = this
    if (tracer === undefined) return this.#observed(store, op, operation, bounded)
    const attributes = { [SpanAttribute.Store]: snakeCase(store), [SpanAttribute.Operation]: op }
    return inSpan(tracer, SpanName.Store, attributes, () =>
      this.#observed(store, op, operation, bounded),
    )
  }

  #observed<T>(
    store: string,
    op: string,
    operation: () => Promise<T>,
    bounded: boolean,
  ): Promise<T> {
    const guarded = bounded
      ? guardStore(store, this.options.storeTimeoutMs, operation)
      : inProcessCall(store, operation)
    if (this.observers.size === 0) return guarded
    const started = performance.now()
    const timed = (): void => {
      const duration = performance.now() - started
      for (const observer of this.observers) observer.storeCall?.(store, op, duration)
    }
    return guarded.then(
      (value) => {
        timed()
        return value
      },
      (error: unknown) => {
        timed()
        if (error instanceof StoreUnavailableError) {
          for (const observer of this.observers) observer.storeError?.(error.store)
        }
        throw error
      },
    )
  }

  /** Tracks a background store write; its failure goes to `onError`, never unhandled. */
  background(work: Promise<unknown>): void {
    const tracked = work.then(
      () => undefined,
      (error: unknown) => {
        this.backgroundErrors++
        this.reportError(error)
      },
    )
    this.#inFlight.add(tracked)
    void tracked.finally(() => this.#inFlight.delete(tracked))
  }

  /** Waits for every background write, including those started while waiting. */
  async settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
  }

  /** Closes, in the background, the stores this warden created (never the ones it was given). */
  closeOwnedStores(): void {
    for (const store of this.#ownedStores) this.background(store.close())
  }

  reportError(error: unknown, connection?: Connection<TData>): void {
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

  /** Runs an application hook; whatever it throws goes to `onError`. */
  safely(run: () => void): void {
    try {
      run()
    } catch (error) {
      this.reportError(error)
    }
  }

  #own<TStore extends { close(): Promise<void> }>(store: TStore): TStore {
    this.#ownedStores.push(store)
    return store
  }
}
