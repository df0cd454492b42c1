/**
 * What the NATS tests share: the server's URL, a prefix per run, a connection to the shared
 * server (the file is skipped without it, unless CI=true), a polling wait, and a TCP proxy in
 * front of the server that a test can cut and restore (the shared server is never restarted).
 */
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, connect as tcp, type AddressInfo, type Server, type Socket } from 'node:net'
import { connect, type NatsConnection } from '@nats-io/transport-node'

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'

/** A prefix no other run shares. */
export function randomPrefix(): string {
  return `wsw_test_${randomBytes(6).toString('hex')}`
}

/** A connection to the shared test NATS, closed in teardown; undefined (file skipped) without it. */
export async function sharedNats(t: Test): Promise<NatsConnection | undefined> {
  try {
    const connection = await connect({ servers: NATS_URL, timeout: 2000 })
    t.teardown(() => connection.close())
    return connection
  } catch (error) {
    if (process.env.CI === 'true') {
      throw new Error(`NATS at ${NATS_URL} is required in CI`, { cause: error })
    }
    t.plan(0, `no NATS at ${NATS_URL}`)
    return undefined
  }
}

/** Resolves when `check` is true, polling; throws after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A port nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * A TCP proxy to the shared NATS on a port of its own. `cut()` drops every connection through
 * it and refuses new ones (they are accepted and closed at once) until `restore()`.
 */
export class Proxy {
  private readonly sockets = new Set<Socket>()
  private open = true
  /** Client connections accepted so far. */
  accepted = 0

  private constructor(private readonly server: Server) {}

  static async start(t: Test): Promise<Proxy> {
    const target = new URL(NATS_URL)
    let proxy: Proxy | undefined = undefined
    const server = createServer((client) => {
      const self = proxy as Proxy
      if (!self.open) {
        client.destroy()
        return
      }
      self.accepted++
      const upstream = tcp(Number(target.port || 4222), target.hostname)
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        self.sockets.add(from)
        from.on('error', () => to.destroy())
        from.on('close', () => {
          self.sockets.delete(from)
          to.destroy()
        })
        from.pipe(to)
      }
    })
    proxy = new Proxy(server)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    t.teardown(() => proxy.stop())
    return proxy
  }

  /** Client connections open now. */
  get connections(): number {
    return this.sockets.size / 2
  }

  get url(): string {
    return `nats://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  cut(): void {
    this.open = false
    for (const socket of this.sockets) socket.destroy()
  }

  restore(): void {
    this.open = true
  }

  async stop(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
