import { setTimeout as sleep } from 'node:timers/promises'

export interface DrainOptions<T> {
  /** Closes are spread evenly over this window (capped at half of `timeoutMs`). */
  readonly drainMs: number
  /** After this long, whatever has not closed is terminated. */
  readonly timeoutMs: number
  readonly close: (connection: T) => void
  readonly terminate: (connection: T) => void
  readonly isEnded: (connection: T) => boolean
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
  const started = Date.now()
  const drainMs = Math.min(options.drainMs, Math.floor(options.timeoutMs / 2))
  const deadline = started + options.timeoutMs
  let next = 0
  while (next < total || connections.some((connection) => !options.isEnded(connection))) {
    const elapsed = Date.now() - started
    const due =
      drainMs === 0 ? total : Math.min(total, Math.ceil((total * (elapsed + 1)) / drainMs))
    for (; next < due; next++) options.close(connections[next] as T)
    if (Date.now() >= deadline) break
    await sleep(TICK_MS)
  }
  const stragglers = connections.filter((connection) => !options.isEnded(connection))
  for (const connection of stragglers) options.terminate(connection)
  const settleBy = Date.now() + SETTLE_MS
  while (Date.now() < settleBy && stragglers.some((connection) => !options.isEnded(connection))) {
    await sleep(TICK_MS / 2)
  }
  return { closed: total - stragglers.length, terminated: stragglers.length }
}
