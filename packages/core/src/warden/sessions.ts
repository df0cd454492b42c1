/**
 * Wires session resumption into a warden (resumption on): starts each connection's session
 * (`$session` and the replay before anything else), rejoins a resumed session's channels, keeps
 * live sessions resumable from the heartbeat and reports the ones that expired unclaimed.
 *
 * @module
 */
import { CloseCode, ErrorCode, reconnectPolicy } from '@ws-warden/protocol'
import type { LiveConnection } from '../connection.js'
import { ForbiddenError } from '../errors.js'
import type { ClaimedSession } from '../session.js'
import { Resumption } from '../resumption.js'
import type { ResumeOutcome } from '../observer.js'
import type { DisconnectCause } from '../types.js'
import type { WardenRuntime } from './runtime.js'

export interface ResumptionWiringDeps<TData> {
  /** Resolves once this instance receives what other instances publish on these streams. */
  readonly subscribed: (streams: readonly string[]) => Promise<void>
  /** Joins a channel, after the `authorizeChannel` check. */
  readonly join: (connection: LiveConnection<TData>, channel: string) => Promise<void>
  /** Lets the connection's held messages be dispatched, once its session has started. */
  readonly resumeMessages: (connection: LiveConnection<TData>) => void
}

/** The resumption engine and what the warden does around it. */
export class ResumptionWiring<TData> {
  readonly resumption: Resumption<TData>
  readonly #runtime: WardenRuntime<TData>
  readonly #deps: ResumptionWiringDeps<TData>

  constructor(runtime: WardenRuntime<TData>, deps: ResumptionWiringDeps<TData>) {
    this.#runtime = runtime
    this.#deps = deps
    const { options, stores } = runtime
    // Resumption needs heartbeats (resolveOptions checks): they keep live sessions resumable.
    const { intervalMs, timeoutMs } = options.heartbeat as { intervalMs: number; timeoutMs: number }
    this.resumption = new Resumption<TData>({
      options: options.resumption as NonNullable<Exclude<typeof options.resumption, false>>,
      history: stores.history!,
      resumes: stores.resumes!,
      guard: (store, op, operation) => runtime.guard(store, op, operation),
      now: () => runtime.now(),
      liveMarginMs: intervalMs + timeoutMs,
      subscribed: (streams) => deps.subscribed(streams),
      rejoin: (connection, channel) => this.#rejoin(connection, channel),
      outcome: (outcome) => this.#report(outcome),
    })
  }

  /** Starts a new connection's session: `$session` and the replay first, then the rest. */
  start(connection: LiveConnection<TData>, claimed: ClaimedSession | undefined): void {
    const runtime = this.#runtime
    const resumption = this.resumption
    const started = resumption.start(connection, connection.session!, claimed).then(
      (start) => {
        if (!start) {
          if (claimed) this.#report('disconnected')
          return
        }
        connection.release(start.first, start.floors)
        this.#deps.resumeMessages(connection)
        if (!start.resumed) return
        const info = start.resumed
        this.#report(info.complete ? 'complete' : 'incomplete')
        runtime.logger.info(
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
        runtime.safely(() => runtime.hooks.onResume?.(connection, info))
      },
      (error: unknown) => {
        // A store failed: the client may try again later, with the credential it still holds.
        if (claimed) {
          this.#report('store_unavailable')
          runtime.background(resumption.unclaim(claimed))
        }
        connection.closeWith('server', CloseCode.TryAgainLater, ErrorCode.StoreUnavailable)
        throw error
      },
    )
    runtime.background(started)
  }

  /** A connection with a session ended: keep it for `resumption.ttlMs`, unless the end was final. */
  ended(connection: LiveConnection<TData>, cause: DisconnectCause, socketCode: number): void {
    const final =
      (cause === 'server' && reconnectPolicy(socketCode) === 'stop') ||
      (cause === 'client' && socketCode === CloseCode.Normal)
    this.#runtime.background(this.resumption.ended(connection, connection.session!, final))
  }

  /** Keeps live sessions resumable and reports the ones that expired unclaimed. */
  pulse(sessions: string[], now: number): void {
    const runtime = this.#runtime
    if (sessions.length > 0) runtime.background(this.resumption.touch(sessions, now))
    runtime.background(
      this.resumption.sweep(now).then((expired) => {
        for (const session of expired) {
          runtime.logger.info(
            { event: 'resume_expired', sessionId: session.id, userId: session.userId },
            'resumable session expired',
          )
          runtime.safely(() => runtime.hooks.onResumeExpired?.(session))
        }
      }),
    )
  }

  /** Tells the observers how a resumption ended. */
  #report(outcome: ResumeOutcome): void {
    for (const observer of this.#runtime.observers) observer.resumed?.(outcome)
  }

  /** Rejoins a channel during a resumption; false if `authorizeChannel` now refuses it. */
  #rejoin(connection: LiveConnection<TData>, channel: string): Promise<boolean> {
    return this.#deps.join(connection, channel).then(
      () => connection.channels.has(channel),
      (error: unknown) => {
        if (error instanceof ForbiddenError) return false
        throw error
      },
    )
  }
}
