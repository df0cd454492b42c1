import type { Test } from 'tap'
import t from 'tap'
import type { Principal, WardenOptions } from '@ws-warden/core'
import { Client, tokenFor } from '@ws-warden/testing'
import WebSocket from 'ws'
import type { Adapter } from './adapters.js'
import { selected } from './adapters.js'

export { Client, tokenFor, until } from '@ws-warden/testing'

export const SECRET = 'an-e2e-test-secret-that-is-at-least-32-bytes'

/** Runs `suite` once per adapter, unchanged, each in its own subtest named after the adapter. */
export function eachAdapter(suite: (t: Test, adapter: Adapter) => void): void {
  for (const adapter of selected) {
    t.test(adapter.name, async (t) => suite(t, adapter))
  }
}

/** A started app with a test's conveniences; everything is closed in teardown. */
export type App = Awaited<ReturnType<typeof start>>

/**
 * Starts the adapter's app with a warden made of test-friendly defaults and `options`. `close()`
 * may be called by the test; teardown calls it again harmlessly.
 */
export async function start(t: Test, adapter: Adapter, options: Partial<WardenOptions> = {}) {
  const started = await adapter.start({
    tokens: { secret: SECRET },
    shutdown: { drainMs: 0, timeoutMs: 2_000 },
    ...options,
  })
  const { warden, url } = started
  const clients = new Set<WebSocket>()
  let closing: Promise<void> | undefined
  const close = () => (closing ??= started.close())
  t.teardown(async () => {
    for (const client of clients) client.terminate()
    await close()
  })

  /** Opens a client on `path` (with its query); resolves once the handshake has an answer. */
  async function open(path: string, clientOptions: WebSocket.ClientOptions = {}): Promise<Client> {
    const socket = new WebSocket(`${url}${path}`, clientOptions)
    clients.add(socket)
    return Client.start(socket)
  }

  /** Issues a fresh token for `who` and opens `/ws` (or `path`) with it. */
  async function connect(
    who: Principal | string = 'alice',
    clientOptions: WebSocket.ClientOptions = {},
    path = '/ws',
  ): Promise<Client> {
    return open(`${path}?ws_token=${await tokenFor(warden, who)}`, clientOptions)
  }

  return { warden, url, http: url.replace('ws:', 'http:'), open, connect, close }
}
