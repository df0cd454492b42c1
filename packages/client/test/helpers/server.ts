import type { Test } from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ServerOptions } from 'ws'
import WebSocket, { WebSocketServer } from 'ws'
import type { Connection, Principal, WardenOptions } from '@ws-warden/core'
import { createWarden, handleUpgrade } from '@ws-warden/core'
import type { ClientEvents, ClientOptions, Timers, WebSocketConstructor } from '../../src/index.js'
import { WardenClient } from '../../src/index.js'

export const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'

/**
 * A warden behind a bare Node HTTP server (what the adapters do), on a port of its own.
 * `wsOptions` go over the warden's (`handleProtocols: () => false`: a server that selects none).
 */
export async function startServer<TData = Record<string, unknown>>(
  t: Test,
  options: Partial<WardenOptions<TData>> = {},
  port = 0,
  wsOptions: ServerOptions = {},
) {
  const warden = createWarden<TData>({ tokens: { secret: SECRET }, ...options })
  // The teardown terminates every socket ws holds, governed or not: ws keeps them here.
  const wss = new WebSocketServer({
    noServer: true,
    ...warden.wsOptions,
    clientTracking: true,
    ...wsOptions,
  })
  const connections: Connection<TData>[] = []
  const server = createServer((_req, res) => res.writeHead(404).end())
  server.on('upgrade', (request, socket, head) => {
    void handleUpgrade(warden, wss, request, socket, head, {
      onConnection: (connection) => connections.push(connection),
    })
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`
  let stopped = false

  /** Stops the server the hard way (a crashed instance): sockets cut, no close frames. */
  async function kill(): Promise<void> {
    if (stopped) return
    stopped = true
    for (const client of wss.clients) client.terminate()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await warden.close()
  }

  /** Graceful shutdown: every client gets the shutdown close code. */
  async function stop(): Promise<void> {
    if (stopped) return
    stopped = true
    await warden.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }

  t.teardown(kill)

  /** A connect token for `userId`, as a token endpoint would issue it. */
  async function token(principal: Principal | string = 'alice'): Promise<string> {
    const who = typeof principal === 'string' ? { userId: principal, permissions: [] } : principal
    return (await warden.issueToken(who)).token
  }

  return { warden, url, connections, token, kill, stop }
}

/** Real timers that also count what is pending, so a test can prove nothing is left to run. */
export function countingTimers(): Timers & { readonly pending: number } {
  const pending = new Set<unknown>()
  return {
    now: () => Date.now(),
    setTimeout: (callback, ms) => {
      const handle = setTimeout(() => {
        pending.delete(handle)
        callback()
      }, ms)
      pending.add(handle)
      return handle
    },
    clearTimeout: (handle) => {
      pending.delete(handle)
      clearTimeout(handle as NodeJS.Timeout)
    },
    get pending() {
      return pending.size
    },
  }
}

/** A client over `ws`, recording its events; closed at teardown. */
export function startClient(
  t: Test,
  options: Partial<ClientOptions> & Pick<ClientOptions, 'url' | 'token'>,
) {
  const events: { [K in keyof ClientEvents]: ClientEvents[K][] } = {
    open: [],
    session: [],
    resumed: [],
    message: [],
    close: [],
    reconnecting: [],
    refreshed: [],
    error: [],
  }
  const client = new WardenClient({
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    ...options,
  })
  for (const name of Object.keys(events) as (keyof ClientEvents)[]) {
    client.on(name, (payload) => (events[name] as unknown[]).push(payload))
  }
  t.teardown(() => client.close())
  return { client, events }
}

/** Resolves when `check` is true, polling; throws after `timeoutMs`. */
export async function until(
  check: () => boolean,
  timeoutMs = 3_000,
  what = 'a condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
