/**
 * The drain of a graceful shutdown: closes connections spread over a window, waits for their
 * closing handshakes up to a timeout, terminates the rest. Generic over what a connection is.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises'

export interface DrainOptions<T> {
  /** Closes are spread evenly over this window (capped at half of `timeoutMs`). */
  readonly drainMs: number
  /** After this long, whatever has not closed is terminated. */
  readonly timeoutMs: number
  readonly close: (connection: T) => void
  readonly terminate: (connection: T) => void
  readonly isEnded: (connection: T) => boolean
  /** Where time is read (the warden's clock). @default Date.now */
  readonly now?: () => number
}

/** How often the drain closes its next batch and looks for stragglers. */
const TICK_MS = 20
/** How long terminated sockets get to run their removal path. */
const SETTLE_MS = 1_000

/**
 * Closes connections spread over a drain window, so clients do not all reconnect in the same
 * instant, then waits for their closing handshakes up to a timeout and terminates the rest.
 */
export async function drain<T>(
  connections: readonly T[],
  options: DrainOptions<T>,
): Promise<{ closed: number; terminated: number }> {
  const total = connections.length
  if (total === 0) return { closed: 0, terminated: 0 }
  const now = options.now ?? Date.now
  // Time passed: the clock's, but never less than the ticks slept, so that a clock that stands
  // still (a test's) cannot hold a shutdown open forever.
  let slept = 0
  const since = (start: number): number => Math.max(now() - start, slept)
  const started = now()
  const drainMs = Math.min(options.drainMs, Math.floor(options.timeoutMs / 2))
  let next = 0
  while (next < total || connections.some((connection) => !options.isEnded(connection))) {
    const elapsed = since(started)
    const due =
      drainMs === 0 ? total : Math.min(total, Math.ceil((total * (elapsed + 1)) / drainMs))
    for (; next < due; next++) options.close(connections[next] as T)
    if (since(started) >= options.timeoutMs) break
    await sleep(TICK_MS)
    slept += TICK_MS
  }
  const stragglers = connections.filter((connection) => !options.isEnded(connection))
  for (const connection of stragglers) options.terminate(connection)
  const settleStarted = now()
  slept = 0
  while (
    since(settleStarted) < SETTLE_MS &&
    stragglers.some((connection) => !options.isEnded(connection))
  ) {
    await sleep(TICK_MS / 2)
    slept += TICK_MS / 2
  }
  return { closed: total - stragglers.length, terminated: stragglers.length }
}
