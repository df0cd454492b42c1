/**
 * One JSON line per event on stdout, in pino's shape (`level`, `time`, fields, `msg`): the
 * Express and Koa demos log like the Fastify one (whose logger is pino) without a dependency.
 *
 * @module
 */
import type { Logger } from '@ws-warden/core'

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const

/** A logger at level `info`; `enabled: false` is silent. */
export function jsonLogger(enabled = true, bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: number) =>
    (object: object, msg?: string): void => {
      if (!enabled || level < LEVELS.info) return
      const line = { level, time: Date.now(), ...bindings, ...object, ...(msg && { msg }) }
      process.stdout.write(`${JSON.stringify(line)}\n`)
    }
  return {
    debug: at(LEVELS.debug),
    info: at(LEVELS.info),
    warn: at(LEVELS.warn),
    error: at(LEVELS.error),
    child: (more) => jsonLogger(enabled, { ...bindings, ...more }),
  }
}
