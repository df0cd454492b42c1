/**
 * The heartbeat's pulse: each cycle pings every open connection, touches their session records
 * (and resumable sessions) in one batch, and, at the check, cuts off whoever missed its pong,
 * closes backlogged slow consumers and drives token refresh.
 *
 * @module
 */
import { Heartbeat } from '../heartbeat.js'
import type { HeartbeatTarget } from '../heartbeat.js'
import type { TokenRefresh } from '../refresh.js'
import type { WardenRuntime } from './runtime.js'
import type { ResumptionWiring } from './sessions.js'

/** Starts the heartbeat of a warden (heartbeat on), or returns undefined (heartbeat off). */
export function startPulse<TData>(
  runtime: WardenRuntime<TData>,
  refresher: TokenRefresh | undefined,
  sessions: ResumptionWiring<TData> | undefined,
): Heartbeat | undefined {
  if (!runtime.options.heartbeat) return undefined
  const { intervalMs, timeoutMs } = runtime.options.heartbeat
  const heartbeat = new Heartbeat(intervalMs, timeoutMs, pulse(runtime, refresher, sessions), () =>
    runtime.now(),
  )
  heartbeat.start()
  return heartbeat
}

/** The heartbeat's view of a warden. */
function pulse<TData>(
  runtime: WardenRuntime<TData>,
  refresher: TokenRefresh | undefined,
  sessions: ResumptionWiring<TData> | undefined,
): HeartbeatTarget {
  const { registry } = runtime
  return {
    ping: (now) => {
      const ids: string[] = []
      const resumable: string[] = []
      for (const connection of registry.all()) {
        if (!connection.open) continue
        ids.push(connection.id)
        if (connection.session?.ready) resumable.push(connection.session.id)
        connection.awaitingPong = true
        connection.socket.ping()
        refresher?.check(connection, now)
      }
      sessions?.pulse(resumable, now)
      if (ids.length > 0) {
        runtime.background(
          runtime.guard('sessions', 'touch', () => runtime.stores.sessions.touch(ids, now)),
        )
      }
    },
    check: (now) => {
      for (const connection of registry.all()) {
        if (connection.awaitingPong) {
          connection.cutOff('heartbeat')
          continue
        }
        if (connection.backloggedSince !== 0) connection.checkBacklog(now)
        refresher?.check(connection, now)
      }
    },
  }
}
