/**
 * Graceful shutdown of a warden: stops the timers and admission, drains every connection
 * (`drain`), waits for background writes, releases broker subscriptions and closes the stores
 * the warden created, then reports.
 *
 * @module
 */
import type { LiveConnection } from '../connection.js'
import { drain } from '../drain.js'
import type { ShutdownReport } from '../types.js'
import type { WardenRuntime } from './runtime.js'

export interface ShutdownSteps {
  /** Stops what runs on its own (heartbeat, sweeper) and drops admitted tickets. */
  readonly stop: () => void
  /** Releases every broker subscription. */
  readonly unsubscribe: () => Promise<void>
}

/** Runs the shutdown sequence once; `close()` memoizes it. */
export async function shutDown<TData>(
  runtime: WardenRuntime<TData>,
  steps: ShutdownSteps,
): Promise<ShutdownReport> {
  const started = runtime.now()
  steps.stop()
  const { closeCode, drainMs, timeoutMs } = runtime.options.shutdown
  const { registry } = runtime
  const result = await drain<LiveConnection<TData>>([...registry.all()], {
    drainMs,
    timeoutMs,
    close: (connection) => connection.closeWith('shutdown', closeCode, 'server shutting down'),
    terminate: (connection) => connection.cutOff('shutdown'),
    isEnded: (connection) => registry.get(connection.id) !== connection,
    now: () => runtime.now(),
  })
  await runtime.settle()
  await steps.unsubscribe()
  // Closed last, once every write is done; a failure is counted like any background error.
  runtime.closeOwnedStores()
  await runtime.settle()
  const report: ShutdownReport = {
    closed: result.closed,
    terminated: result.terminated,
    errors: runtime.backgroundErrors,
    durationMs: runtime.now() - started,
  }
  runtime.logger.info({ event: 'shutdown', ...report }, 'shutdown complete')
  return report
}
