/**
 * The demo's entry point: reads the environment, starts, prints the URL, and shuts down
 * gracefully on SIGTERM or SIGINT (exit 0). A bad setting prints one line naming the variable
 * and exits 1.
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
function stop(signal: NodeJS.Signals): void {
  if (stopping) {
    process.stderr.write(`ws-warden demo: ${signal} again, exiting now\n`)
    process.exit(1)
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
