/**
 * The demo app (`examples/demo`, built) as a benchmark server: its own process, configured only
 * through the environment its contract fixes, so the demo's `/ws` is measured as users run it.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { SECRET, until } from './harness.js'
import type { StoreKind } from './services.js'
import { cleanup, MYSQL_URL, POSTGRES_URL, REDIS_URL, uniqueName } from './services.js'
import { sleep } from './stats.js'

const MAIN = fileURLToPath(new URL('../../examples/demo/dist/main.js', import.meta.url))

/** A running demo process. */
export interface RunningDemo {
  readonly url: string
  /** What the bench clients need to know: the demo verifies tokens as a warden does. */
  readonly config: { readonly kind: 'warden' }
  /** Open connections, as `GET /api/stats` counts them. */
  connections(): Promise<number>
  /** The process's CPU time so far (user + system, µs), from /proc; undefined elsewhere. */
  cpuMicros(): number | undefined
  stop(): Promise<void>
}

/**
 * Starts the demo on `store` (its default adapter, Fastify) with limits raised so that nothing
 * is refused. Its per-connection log lines go to a pipe that is drained, as a deployment's would.
 */
export async function startDemo(
  store: StoreKind,
  /** Flags for the demo's `node` (src/profile.ts gives `--cpu-prof`). */
  nodeFlags: readonly string[] = [],
  /** Another build of the demo's `main.js` (src/cpu-probe.ts compares two). */
  main: string = MAIN,
): Promise<RunningDemo> {
  const name = uniqueName(`dm${store.slice(0, 2)}`)
  let databaseUrl: string | undefined
  if (store === 'postgres') {
    // A schema of the run's own (the demo's tables keep their default names inside it).
    const client = new pg.Client({ connectionString: POSTGRES_URL })
    await client.connect()
    await client.query(`CREATE SCHEMA "${name}"`)
    await client.end()
    databaseUrl = `${POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${name}`)}`
  } else if (store === 'mysql') {
    databaseUrl = MYSQL_URL
  }
  const child = spawn(process.execPath, [...nodeFlags, main], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      WARDEN_STORE: store,
      WARDEN_PREFIX: store === 'postgres' ? 'ws_warden' : name,
      ...(store === 'redis' && { REDIS_URL }),
      ...(databaseUrl !== undefined && { DATABASE_URL: databaseUrl }),
      WARDEN_TOKEN_SECRET: SECRET,
      WARDEN_TOKEN_TTL_S: '600',
      WARDEN_CONNECT_LIMIT: '1000000000',
      WARDEN_MAX_CONNECTIONS_PER_USER: '1000000',
      // Every bench client connects from 127.0.0.1.
      WARDEN_MAX_CONNECTIONS_PER_IP: '1000000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let errors = ''
  child.stderr.on('data', (chunk: Buffer) => void (errors += chunk.toString()))
  let output: string | undefined = ''
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (output === undefined) return
      output += chunk.toString()
      const found = /listening on (http:\/\/\S+)/.exec(output)
      if (found) {
        // From here on the log lines are only drained.
        output = undefined
        resolve(found[1] as string)
      }
    })
    child.once('exit', (code) => reject(new Error(`demo on ${store} exited ${code}: ${errors}`)))
  })
  const base = await listening
  const connections = async (): Promise<number> => {
    const response = await fetch(`${base}/api/stats`)
    return ((await response.json()) as { connections: number }).connections
  }
  return {
    url: `${base.replace('http:', 'ws:')}/ws`,
    config: { kind: 'warden' },
    connections,
    cpuMicros: () => processCpuMicros(child.pid),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = once(child, 'exit')
        child.kill('SIGTERM')
        await Promise.race([exited, sleep(10_000)])
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      // The schema (PostgreSQL), the key prefix (Redis) or the table prefix (MySQL: `<name>_`).
      await cleanup(store, name).catch(() => undefined)
    },
  }
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux everywhere). */
const TICKS_PER_SECOND = 100

/** utime + stime of a process, in µs (10 ms resolution); undefined without /proc. */
function processCpuMicros(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return (ticks * 1_000_000) / TICKS_PER_SECOND
  } catch {
    return undefined
  }
}

/** Waits until the demo counts `count` open connections; throws after `timeoutMs`. */
export async function untilDemoConnections(
  demo: RunningDemo,
  count: number,
  timeoutMs = 30_000,
): Promise<void> {
  const seen = await until(() => demo.connections(), count, timeoutMs)
  if (seen !== count) throw new Error(`demo: ${seen} connections, not ${count}`)
}
