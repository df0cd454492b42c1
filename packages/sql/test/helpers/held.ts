import type { PgClient, PgPool } from '../../src/index.js'
import type { Statement } from './recording.js'

type Listener = (...args: unknown[]) => void

/**
 * A pg pool whose clients log every statement to `log` and, while `hold` is on, keep the
 * notifications they receive; `release()` then hands all of them over at once, in one turn of
 * the event loop (as notifications read from the socket in one chunk arrive). The broker's
 * fetches of stored payloads (`= ANY`) wait for `stall`, and are counted in `fetched`.
 */
export function holding(pool: PgPool, log: Statement[] = []) {
  const held: (() => void)[] = []
  const control = {
    log,
    hold: false,
    /** While set, the fetches of stored payloads wait for it. */
    stall: undefined as Promise<void> | undefined,
    /** How many fetches of stored payloads were answered. */
    fetched: 0,
    /** How many notifications are held. */
    get held() {
      return held.length
    },
    release() {
      control.hold = false
      for (const deliver of held.splice(0)) deliver()
    },
  }
  const wrapped: PgPool = {
    connect: async () => {
      const client = (await pool.connect()) as PgClient & {
        on(event: string, listener: Listener): unknown
      }
      const proxy = {
        query: async (config: Parameters<PgClient['query']>[0]) => {
          log.push({ sql: config.text, values: config.values ?? [] })
          if (!config.text.includes('= ANY')) return client.query(config)
          await control.stall
          const answer = await client.query(config)
          control.fetched++
          return answer
        },
        release: (destroy?: boolean | Error) => client.release(destroy),
        on(event: string, listener: Listener) {
          if (event !== 'notification') client.on(event, listener)
          else {
            client.on(event, (...args: unknown[]) =>
              control.hold ? held.push(() => listener(...args)) : listener(...args),
            )
          }
          return proxy
        },
        removeListener: (event: 'error', listener: (error: Error) => void) =>
          client.removeListener(event, listener),
      }
      return proxy as PgClient
    },
    end: () => pool.end(),
  }
  return { pool: wrapped, control }
}
