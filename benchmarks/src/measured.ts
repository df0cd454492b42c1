/**
 * A server the admission benchmark and `src/cpu-probe.ts` connect to, whichever process it is: a
 * bench worker (raw ws, ws-warden, a bare framework) or the demo app.
 */
import { startDemo, untilDemoConnections } from './demo.js'
import { startServer, untilConnections } from './harness.js'
import type { StoreKind } from './services.js'
import type { ServerKind } from './workers/server.js'

export interface Measured {
  readonly url: string
  readonly config: { readonly kind: ServerKind }
  /** The server process's CPU time so far (µs), if it can be read. */
  cpuMicros(): Promise<number | undefined>
  /** Resolves once the server counts `connections` open connections. */
  until(connections: number): Promise<void>
  stop(): Promise<void>
}

/**
 * Starts `kind` on `store` (no heartbeat, for bench workers). `demo` is the demo app as built;
 * `demoMain` runs another build of it (an A/B).
 */
export async function startMeasured(
  kind: ServerKind | 'demo',
  store: StoreKind,
  demoMain?: string,
): Promise<Measured> {
  if (kind === 'demo') {
    const demo = await startDemo(store, [], demoMain)
    return {
      url: demo.url,
      config: demo.config,
      cpuMicros: async () => demo.cpuMicros(),
      until: (count) => untilDemoConnections(demo, count),
      stop: () => demo.stop(),
    }
  }
  const server = await startServer(kind, store, { heartbeatMs: 0 })
  return {
    url: server.url,
    config: server.config,
    cpuMicros: async () => (await server.stats()).cpuMicros,
    until: async (count) => void (await untilConnections(server, count)),
    stop: () => server.stop(),
  }
}
