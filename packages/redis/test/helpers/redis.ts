import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { Redis, type RedisOptions } from 'ioredis'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A prefix no other run shares. */
export function randomPrefix(): string {
  return `wsw_test_${randomBytes(6).toString('hex')}`
}

/**
 * A client of the shared test Redis, closed in teardown. Without Redis the file is skipped,
 * unless CI=true: then it fails.
 */
export async function sharedRedis(
  t: Test,
  options: Omit<RedisOptions, 'replyMapping'> = {},
): Promise<Redis | undefined> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, ...options })
  client.on('error', () => {})
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 2000).unref()),
    ])
  } catch (error) {
    client.disconnect()
    if (process.env.CI === 'true')
      throw new Error(`Redis at ${REDIS_URL} is required in CI`, { cause: error })
    t.plan(0, `no Redis at ${REDIS_URL}`)
    return undefined
  }
  t.teardown(() => void client.disconnect())
  return client
}

/** Deletes every key of a prefix (tests only: a SCAN is fine here). */
export async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  let deleted = 0
  for await (const keys of client.scanStream({ match: `*${prefix}*`, count: 1000 })) {
    if ((keys as string[]).length > 0) deleted += await client.del(...(keys as string[]))
  }
  return deleted
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

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A redis-server of the test's own, on `port`; `stop()` kills it, `start()` again. */
export class OwnRedis {
  #process: ChildProcess | undefined

  /** `args` are extra redis-server arguments (`--cluster-enabled yes`, ...). */
  constructor(
    readonly port: number,
    readonly args: readonly string[] = [],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    const child = spawn(
      process.env.REDIS_SERVER ?? '/usr/bin/redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        ...this.args,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    this.#process = child
    let output = ''
    // A binary that cannot run (missing, not executable) is an 'error', not an exit: unheard,
    // it would take the test process down.
    let failed: Error | undefined
    child.on('error', (error) => (failed = error))
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    await until(
      () =>
        output.includes('Ready to accept connections') ||
        child.exitCode !== null ||
        failed !== undefined,
      'redis-server to start',
    )
    if (failed !== undefined) throw new Error(`redis-server did not start: ${failed.message}`)
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${output}`)
  }

  async stop(): Promise<void> {
    const child = this.#process
    this.#process = undefined
    if (child === undefined || child.exitCode !== null || child.pid === undefined) return
    child.kill('SIGKILL')
    await once(child, 'exit')
  }
}

/**
 * An {@link OwnRedis} on a free port, started, and the `skip` option for the tests that use it:
 * false once it runs, or why redis-server could not start (under CI=true that throws instead).
 */
export async function startOwnRedis(): Promise<{ redis: OwnRedis; skip: false | string }> {
  const redis = new OwnRedis(await freePort())
  const skip = await redis.start().then(
    () => false as const,
    (error: unknown) => {
      if (process.env.CI === 'true') throw error
      return `cannot start redis-server: ${String(error)}`
    },
  )
  return { redis, skip }
}
