import type { Logger } from '@ws-warden/core'
import type { DemoStores } from './stores.js'

/** How many records one sweep removed, per store. */
export interface SweepReport {
  readonly sessions: number
  readonly tokens: number
  readonly rateLimits: number
}

/**
 * Removes what no live connection needs any more: session records not refreshed within a
 * heartbeat deadline (connections that ended without a clean close, or whose instance crashed),
 * used token ids past their expiry, and ended rate-limit windows.
 */
export async function sweep(
  stores: DemoStores,
  now: number,
  deadlineMs: number,
): Promise<SweepReport> {
  const [sessions, tokens, rateLimits] = await Promise.all([
    stores.sessions.sweep(now - deadlineMs),
    stores.tokens.sweep(now),
    stores.rateLimits.sweep(now),
  ])
  return { sessions, tokens, rateLimits }
}

/** Sweeps every `intervalMs` (a timer that never holds the process open); returns a stop function. */
export function startSweeper(
  stores: DemoStores,
  options: { readonly intervalMs: number; readonly deadlineMs: number; readonly logger: Logger },
): () => void {
  const timer = setInterval(() => {
    sweep(stores, Date.now(), options.deadlineMs).then(
      (report) => options.logger.info({ event: 'sweep', ...report }, 'sweep done'),
      (error: unknown) =>
        options.logger.error({ event: 'sweep', err: String(error) }, 'sweep failed'),
    )
  }, options.intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
