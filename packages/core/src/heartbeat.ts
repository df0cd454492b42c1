/**
 * The heartbeat's timer: one cycle (ping, then check after the timeout) for every connection.
 *
 * @module
 */
/** What the heartbeat drives. */
export interface HeartbeatTarget {
  /** Pings every connection (marking each as awaiting a pong). */
  ping(now: number): void
  /** Cuts off every connection still awaiting its pong, and runs other periodic checks. */
  check(now: number): void
}

/**
 * One timer for every connection. Each cycle pings everyone at `t`, checks at `t + timeoutMs`
 * for connections that did not answer, and starts again at `t + intervalMs`. A peer that dies
 * right after a pong is therefore cut off within `intervalMs + timeoutMs`. Timers are `unref()`'d.
 *
 * Peers are not blamed for the server's own delays. Timers run before the I/O of the same loop
 * turn, so the verdict waits one `setImmediate`: a pong already received by then counts. And a
 * check that fires more than `timeoutMs` late (a long task, GC, a starved CPU held this process
 * up) is put off by one more `timeoutMs`, once per cycle. Lateness is measured on the monotonic
 * clock, not on the injected one.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined
  private verdict: NodeJS.Immediate | undefined
  private running = false
  private checkDueAt = 0
  private postponed = false

  constructor(
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly target: HeartbeatTarget,
    private readonly now: () => number,
  ) {}

  start(): void {
    if (this.running) return
    this.running = true
    this.schedule(this.intervalMs, () => this.pingPhase())
  }

  stop(): void {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    if (this.verdict) clearImmediate(this.verdict)
    this.timer = undefined
    this.verdict = undefined
  }

  private pingPhase(): void {
    this.target.ping(this.now())
    this.checkDueAt = performance.now() + this.timeoutMs
    this.postponed = false
    this.schedule(this.timeoutMs, () => this.checkPhase())
  }

  private checkPhase(): void {
    if (!this.postponed && performance.now() - this.checkDueAt > this.timeoutMs) {
      this.postponed = true
      this.schedule(this.timeoutMs, () => this.checkPhase())
      return
    }
    this.verdict = setImmediate(() => {
      this.verdict = undefined
      this.target.check(this.now())
      this.schedule(this.intervalMs - this.timeoutMs, () => this.pingPhase())
    })
    this.verdict.unref()
  }

  private schedule(delay: number, run: () => void): void {
    if (!this.running) return
    this.timer = setTimeout(run, delay)
    this.timer.unref()
  }
}
