import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster, Redis } from 'ioredis'

type ClusterOptions = NonNullable<ConstructorParameters<typeof Cluster>[1]>
import { until } from './redis.js'

// A real three-master Redis Cluster of the test's own: redis-server child processes on free
// ports of 17000-17999 (whose cluster-bus ports, +10000, are free too), created with
// `redis-cli --cluster create`. `startCluster` registers the teardown (kill, remove the temp
// dir) before it starts anything, so a failing start or test still cleans up.

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'
export const REDIS_CLI = process.env.REDIS_CLI ?? '/usr/bin/redis-cli'
const STEP_MS = 20_000

/** A running test cluster. */
export interface TestCluster {
  readonly ports: readonly number[]
  /** `host:port` of every master, as `REDIS_CLUSTER_NODES` takes them. */
  readonly seeds: readonly string[]
  /** A plain connection to each master (for CLUSTER / INFO), closed in teardown. */
  readonly admins: readonly Redis[]
  /** A new Cluster client over the masters, disconnected in teardown. */
  client(options?: ClusterOptions): Cluster
}

/** Resolves whether 127.0.0.1:port can be listened on. */
async function isFree(port: number): Promise<boolean> {
  const server = createServer()
  const listening = new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => resolve(true))
  })
  const free = await listening
  if (free) await new Promise((resolve) => server.close(resolve))
  return free
}

/** `count` ports in 17000-17999 whose bus port (+10000) is free as well. */
async function freeClusterPorts(count: number): Promise<number[]> {
  const ports: number[] = []
  const start = 17_000 + Math.floor(Math.random() * 900)
  for (let offset = 0; offset < 1000 && ports.length < count; offset++) {
    const port = 17_000 + ((start - 17_000 + offset) % 1000)
    if ((await isFree(port)) && (await isFree(port + 10_000))) ports.push(port)
  }
  if (ports.length < count) throw new Error('no free ports in 17000-17999')
  return ports
}

/** Runs a command to its end (bounded); rejects with its output if it fails. */
export async function run(command: string, args: readonly string[]): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: STEP_MS })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${code}): ${output}`)
  return output
}

async function startNode(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    REDIS_SERVER,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout',
      '5000',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  await until(
    () => output.includes('Ready to accept connections') || child.exitCode !== null,
    `redis-server on ${port}`,
    STEP_MS,
  )
  if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited: ${output}`)
  return child
}

/**
 * Starts a 3-master cluster (no replicas) and waits for `cluster_state:ok` on every node. Every
 * wait is bounded; teardown kills the servers and removes their directory, pass or fail.
 */
export async function startCluster(t: Test, masters = 3): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'wsw-cluster-'))
  const children: ChildProcess[] = []
  const admins: Redis[] = []
  const clients: Cluster[] = []
  t.teardown(async () => {
    for (const client of clients) client.disconnect()
    for (const admin of admins) admin.disconnect()
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = once(child, 'exit')
        child.kill('SIGKILL')
        await exited
      }),
    )
    rmSync(dir, { recursive: true, force: true })
  })
  const ports = await freeClusterPorts(masters)
  for (const port of ports) children.push(await startNode(port, dir))
  const seeds = ports.map((port) => `127.0.0.1:${port}`)
  await run(REDIS_CLI, [
    '--cluster',
    'create',
    ...seeds,
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ])
  for (const port of ports) {
    const admin = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 })
    admin.on('error', () => {})
    admins.push(admin)
  }
  await until(
    async () => {
      const infos = await Promise.all(admins.map((admin) => admin.cluster('INFO')))
      return infos.every((info) => info.includes('cluster_state:ok'))
    },
    'cluster_state:ok',
    STEP_MS,
  )
  return {
    ports,
    seeds,
    admins,
    client(options) {
      const client = new Cluster(
        ports.map((port) => ({ host: '127.0.0.1', port })),
        options,
      )
      client.on('error', () => {})
      clients.push(client)
      return client
    },
  }
}

/**
 * Sums an integer field of `CLUSTER INFO` (or of `INFO <section>`) over every master: a name
 * (`cluster_stats_messages_publish_sent`), or a name and a subfield (`cmdstat_spublish:calls`,
 * `errorstat_ASK:count`).
 */
export async function sumInfo(
  cluster: TestCluster,
  field: string,
  section?: 'stats' | 'commandstats' | 'errorstats',
): Promise<number> {
  let sum = 0
  for (const admin of cluster.admins) {
    const info = section === undefined ? await admin.cluster('INFO') : await admin.info(section)
    const [name, subfield] = field.split(':')
    const pattern = subfield === undefined ? `^${name}:(\\d+)` : `^${name}:.*\\b${subfield}=(\\d+)`
    const match = new RegExp(pattern, 'm').exec(info)
    sum += match ? Number(match[1]) : 0
  }
  return sum
}

/** How many keys matching `pattern` each master holds, in the order of `cluster.admins`. */
export async function keysPerNode(cluster: TestCluster, pattern: string): Promise<number[]> {
  const counts: number[] = []
  for (const admin of cluster.admins) {
    let n = 0
    let cursor = '0'
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      n += keys.length
      cursor = next
    } while (cursor !== '0')
    counts.push(n)
  }
  return counts
}
