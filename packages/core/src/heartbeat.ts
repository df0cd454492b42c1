/**
 * The heartbeat's timer: one cycle (ping, then check after the timeout) for every connection.
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
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined
  private running = false

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
    this.timer = undefined
  }

  private pingPhase(): void {
    this.target.ping(this.now())
    this.schedule(this.timeoutMs, () => this.checkPhase())
  }

  private checkPhase(): void {
    this.target.check(this.now())
    this.schedule(this.intervalMs - this.timeoutMs, () => this.pingPhase())
  }

  private schedule(delay: number, run: () => void): void {
    if (!this.running) return
    this.timer = setTimeout(run, delay)
    this.timer.unref()
  }
}
