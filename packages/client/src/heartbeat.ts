/**
 * Liveness on the client: its options, and the watch over one open connection that sends a
 * `$ping` after silence and drops the connection when nothing answers.
 *
 * @module
 */
import type { Timers } from './timers.js'

/** How the client tells a dead server (or a dead network path) from a quiet one. */
export interface HeartbeatOptions {
  /**
   * After this long without receiving anything, the client sends a `$ping`.
   * @default 30000
   */
  readonly idleMs?: number
  /**
   * If nothing at all arrives within this long after a `$ping`, the connection is considered
   * dead: it is dropped and the client reconnects.
   * @default 10000
   */
  readonly timeoutMs?: number
}

/**
 * Watches one open connection. Any frame received is proof of life. Browsers hide protocol pings
 * from scripts, so after `idleMs` of silence the client sends a `$ping` (which the server answers
 * with `$pong`, or at worst with an error frame: either is traffic); if nothing at all arrives
 * within `timeoutMs` of wall-clock time, the connection is declared dead.
 *
 * One timer ticks every `min(idleMs, timeoutMs) / 2`; every decision is made from `now()`, never
 * from how many ticks ran. Browsers throttle timers in background tabs, but not the delivery of
 * messages, so a late tick still sees every frame that arrived. A tick that fires much later than
 * scheduled (by more than `timeoutMs`) may come from a process that was suspended (a sleeping
 * laptop, a frozen tab) and has not yet processed what arrived meanwhile: it decides nothing and
 * sends a fresh `$ping` instead, to be judged by a later, punctual tick. (In a tab throttled to one
 * timer a minute every tick is that late, so a dead server is only noticed once the tab is back,
 * or by the browser's own close.)
 */
export class Heartbeat {
  private readonly tickMs: number
  private timer: unknown
  private expectedAt = 0
  private lastReceivedAt = 0
  private pingSentAt: number | undefined

  constructor(
    private readonly options: Required<HeartbeatOptions>,
    private readonly timers: Timers,
    private readonly ping: () => void,
    private readonly dead: () => void,
  ) {
    this.tickMs = Math.max(1, Math.floor(Math.min(options.idleMs, options.timeoutMs) / 2))
  }

  /** Starts watching: the connection just opened. */
  start(): void {
    this.stop()
    this.lastReceivedAt = this.timers.now()
    this.pingSentAt = undefined
    this.schedule(this.lastReceivedAt)
  }

  /** Something arrived. */
  received(): void {
    this.lastReceivedAt = this.timers.now()
    this.pingSentAt = undefined
  }

  stop(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(now: number): void {
    this.expectedAt = now + this.tickMs
    this.timer = this.timers.setTimeout(() => this.tick(), this.tickMs)
  }

  private tick(): void {
    const now = this.timers.now()
    const late = now - this.expectedAt
    this.schedule(now)
    const { idleMs, timeoutMs } = this.options
    if (late > timeoutMs) {
      this.probe(now)
      return
    }
    if (this.pingSentAt !== undefined) {
      if (now - this.pingSentAt >= timeoutMs) {
        this.stop()
        this.dead()
      }
      return
    }
    if (now - this.lastReceivedAt >= idleMs) this.probe(now)
  }

  private probe(now: number): void {
    this.pingSentAt = now
    this.ping()
  }
}
