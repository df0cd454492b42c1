/**
 * Starts the demo on the configured adapter. Only Fastify exists so far; Express and Koa slot in
 * here as their adapters land.
 */
import type { Adapter, DemoConfig } from './config.js'
import { ConfigError } from './config.js'
import { buildServer } from './server.js'

/** A running demo, whatever the framework. */
export interface RunningDemo {
  /** The URL the page is served at. */
  readonly url: string
  readonly log: {
    info(object: object, message?: string): void
    warn(object: object, message?: string): void
  }
  /** Graceful shutdown: connections get close code 1012, the stores close. */
  close(): Promise<void>
}

async function startFastify(config: DemoConfig): Promise<RunningDemo> {
  const app = await buildServer(config)
  await app.listen({ host: config.host, port: config.port })
  return { url: app.listeningOrigin, log: app.log, close: () => app.close() }
}

const adapters: Record<Adapter, ((config: DemoConfig) => Promise<RunningDemo>) | undefined> = {
  fastify: startFastify,
  express: undefined,
  koa: undefined,
}

/** Starts the demo; an adapter or store not available yet is a {@link ConfigError}. */
export async function start(config: DemoConfig): Promise<RunningDemo> {
  const run = adapters[config.adapter]
  if (!run) {
    throw new ConfigError('WARDEN_ADAPTER', `'${config.adapter}' is not available yet; use fastify`)
  }
  return run(config)
}
