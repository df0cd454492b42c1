import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import type { Test } from 'tap'

/** The servers the tests use; override with REDIS_URL / WARDEN_PG_URL / WARDEN_MYSQL_URL. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const PG_URL = process.env.WARDEN_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const MYSQL_URL = process.env.WARDEN_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'

/** A fresh lower-case name, safe as a Redis prefix, a schema or a table prefix. */
export function randomName(prefix: string): string {
  return `${prefix}${randomBytes(5).toString('hex')}`
}

/**
 * Whether a server answers `probe`. Unreachable under CI=true fails the test, never skips it;
 * elsewhere the file's tests are skipped with a note.
 */
export async function reachable(t: Test, name: string, probe: () => Promise<unknown>) {
  try {
    await probe()
    return true
  } catch (error) {
    if (process.env.CI === 'true') {
      t.fail(`${name} is not reachable (CI=true: a missing server is a failure)`, { error })
    } else {
      t.plan(0, `${name} is not reachable; set CI=true to make this a failure`)
    }
    return false
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on (connections are refused). */
export async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * A server that accepts connections and never answers (a network partition), closed in teardown.
 * Resolves its port.
 */
export async function blackHole(t: Test): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
  }).listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return (server.address() as AddressInfo).port
}

/** `url` with its port (and, if given, its password) replaced. */
export function withPort(url: string, port: number, password?: string): string {
  const parsed = new URL(url)
  parsed.port = String(port)
  if (password !== undefined) {
    parsed.username ||= 'user'
    parsed.password = password
  }
  return parsed.toString()
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
