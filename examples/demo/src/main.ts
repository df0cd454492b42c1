/**
 * The demo's entry point: reads the environment, starts, prints the URL, and shuts down
 * gracefully on SIGTERM or SIGINT (exit 0): a repeated signal leaves the drain alone, a second
 * SIGINT closes the connections still open with 1012 and exits 0 at once. A bad setting prints
 * one line naming the variable and exits 1.
 *
 * @module
 */
import { ConfigError, parseConfig } from './config.js'
import type { RunningDemo } from './start.js'
import { start } from './start.js'

function fail(error: unknown): never {
  const message = error instanceof ConfigError ? error.message : String(error)
  process.stderr.write(`ws-warden demo: ${message}\n`)
  process.exit(1)
}

let demo: RunningDemo
try {
  const config = parseConfig(process.env)
  demo = await start(config)
  if (config.tokenSecretGenerated) {
    demo.log.warn(
      { event: 'config', variable: 'WARDEN_TOKEN_SECRET' },
      'WARDEN_TOKEN_SECRET is not set: using a random secret, so tokens and sessions end with this process',
    )
  }
} catch (error) {
  fail(error)
}
process.stdout.write(`ws-warden demo listening on ${demo.url}\n`)

let stopping = false

/**
 * A second SIGINT (Ctrl-C again) stops waiting for closing handshakes: every connection the
 * drain has not closed yet gets its 1012 now, then the process exits 0. The close frames are
 * written synchronously; the exit waits one turn of the event loop for them to leave.
 */
function force(): void {
  let closed = 0
  for (const connection of demo.warden.connections()) {
    if (!connection.open) continue // its close frame is already sent
    connection.close(1012, 'server shutting down')
    closed++
  }
  demo.log.warn(
    { event: 'signal', signal: 'SIGINT', forced: true, connections: closed },
    'SIGINT again: remaining connections closed with 1012, exiting without waiting',
  )
  setImmediate(() => process.exit(0))
}

let interrupts = 0

function stop(signal: NodeJS.Signals): void {
  if (signal === 'SIGINT') interrupts++
  if (stopping) {
    // Supervisors, npm and pnpm forward signals, so a repeated signal is routine and the drain
    // goes on. Only a second SIGINT, a person pressing Ctrl-C again, cuts it short (a SIGTERM
    // before or after the first SIGINT does not count: scripts/demo.mjs forwards as SIGTERM).
    if (interrupts > 1) return force()
    demo.log.info(
      { event: 'signal', signal, draining: true },
      `${signal} again: still draining (a second SIGINT forces the exit)`,
    )
    return
  }
  stopping = true
  demo.log.info({ event: 'signal', signal }, 'shutting down')
  demo.close().then(
    () => process.exit(0),
    (error: unknown) => fail(error),
  )
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
