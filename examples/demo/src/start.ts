/**
 * Starts the demo on the configured adapter: the same app (app.ts) on Fastify, Express or Koa.
 *
 * @module
 */
import type { RunningDemo, StartOptions } from './app.js'
import type { Adapter, DemoConfig } from './config.js'
import { startExpress } from './express.js'
import { startFastify } from './fastify.js'
import { startKoa } from './koa.js'

export type { RunningDemo, StartOptions } from './app.js'

const adapters: Record<
  Adapter,
  (config: DemoConfig, options: StartOptions) => Promise<RunningDemo>
> = { fastify: startFastify, express: startExpress, koa: startKoa }

/** Starts the demo; a store not available yet is a `ConfigError`. */
export function start(config: DemoConfig, options: StartOptions = {}): Promise<RunningDemo> {
  return adapters[config.adapter](config, options)
}
