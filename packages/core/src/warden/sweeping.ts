/**
 * Sweep wiring: `sweep()` (this instance's live sessions touched first, then stale records
 * removed from each store), `sweepExclusive()` under the cluster-wide sweep lock, and the
 * in-process sweeper's timer.
 *
 * @module
 */
import type { SweepOptions, SweepReport } from '../sweep.js'
import { resolveSweep, SWEEP_LOCK } from '../sweep.js'
import type { WardenRuntime } from './runtime.js'

/** Sweeps the stores of one warden. */
export class Sweeping<TData> {
  readonly #runtime: WardenRuntime<TData>
  #timer: NodeJS.Timeout | undefined

  constructor(runtime: WardenRuntime<TData>) {
    this.#runtime = runtime
  }

  /** Starts the in-process sweeper, if the options turn it on. */
  start(): void {
    const sweeper = this.#runtime.options.sweeper
    if (!sweeper) return
    this.#timer = setInterval(() => {
      this.exclusive(sweeper).catch((error: unknown) => this.#runtime.reportError(error))
    }, sweeper.intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  async sweep(options: SweepOptions): Promise<SweepReport> {
    const runtime = this.#runtime
    const { sessions, tokens, rateLimits } = runtime.stores
    const heartbeat = runtime.options.heartbeat
    const settings = resolveSweep(options, heartbeat ? heartbeat.intervalMs : 25_000)
    const started = runtime.now()
    const live = [...runtime.registry.all()].map((connection) => connection.id)
    if (settings.sessions && live.length > 0) {
      await runtime.guard('sessions', 'touch', () => sessions.touch(live, started))
    }
    const [sessionCount, tokenCount, rateLimitCount] = await Promise.all([
      settings.sessions
        ? runtime.guard('sessions', 'sweep', () =>
            sessions.sweep(started - settings.sessionStaleMs),
          )
        : 0,
      settings.tokens
        ? runtime.guard('tokens', 'sweep', () => tokens.sweep(started - settings.tokenAgeMs))
        : 0,
      settings.rateLimits
        ? runtime.guard('rateLimits', 'sweep', () =>
            rateLimits.sweep(started - settings.rateLimitAgeMs),
          )
        : 0,
    ])
    const report: SweepReport = {
      sessions: sessionCount,
      tokens: tokenCount,
      rateLimits: rateLimitCount,
      durationMs: runtime.now() - started,
    }
    runtime.logger.info({ event: 'sweep', ...report }, 'sweep complete')
    for (const observer of runtime.observers) observer.swept?.(report)
    return report
  }

  async exclusive(options: SweepOptions): Promise<SweepReport | null> {
    const runtime = this.#runtime
    const lockMs = Math.max(60_000, runtime.options.storeTimeoutMs * 10)
    const release = await runtime.guard('locks', 'acquire', () =>
      runtime.stores.locks.acquire(SWEEP_LOCK, lockMs),
    )
    if (!release) return null
    try {
      return await this.sweep(options)
    } finally {
      await release().catch((error: unknown) => runtime.reportError(error))
    }
  }
}
