/**
 * A Redis Cluster of the benchmark's own (the approach of `packages/redis/test/helpers/cluster.ts`):
 * three masters, no replicas, `redis-server` children on free ports of 18000-18999 of 127.0.0.1
 * (their cluster-bus ports, +10000, free too) in a temporary directory, created with
 * `redis-cli --cluster create`. Every step is bounded; `stop()` kills the servers and removes
 * the directory, and a failed start stops what it started.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'
const REDIS_CLI = process.env.REDIS_CLI ?? '/usr/bin/redis-cli'
const STEP_MS = 20_000

/** A running benchmark cluster. */
export interface BenchCluster {
  /** `host:port` of every master, as `REDIS_CLUSTER_NODES` takes them. */
  readonly seeds: readonly string[]
  stop(): Promise<void>
}

/** Whether the binaries a cluster needs are installed. */
export function clusterAvailable(): boolean {
  return existsSync(REDIS_SERVER) && existsSync(REDIS_CLI)
}

async function isFree(port: number): Promise<boolean> {
  const server = createServer()
  const free = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => resolve(true))
  })
  if (free) await new Promise((resolve) => server.close(resolve))
  return free
}

async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = []
  const start = Math.floor(Math.random() * 900)
  for (let offset = 0; offset < 1000 && ports.length < count; offset++) {
    const port = 18_000 + ((start + offset) % 1000)
    if ((await isFree(port)) && (await isFree(port + 10_000))) ports.push(port)
  }
  if (ports.length < count) throw new Error('no free ports in 18000-18999')
  return ports
}

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + STEP_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`redis cluster: timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function run(command: string, args: readonly string[]): Promise<void> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: STEP_MS })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${code}): ${output}`)
}

function startNode(port: number, dir: string): { child: ChildProcess; ready: Promise<void> } {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes']
  args.push('--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir)
  args.push('--cluster-node-timeout', '5000', '--save', '', '--appendonly', 'no')
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const ready = until(
    () => output.includes('Ready to accept connections') || child.exitCode !== null,
    `redis-server on ${port}`,
  ).then(() => {
    if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited: ${output}`)
  })
  return { child, ready }
}

/** Starts a cluster of `masters` masters and resolves once every node says `cluster_state:ok`. */
export async function startCluster(masters = 3): Promise<BenchCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'wswb-cluster-'))
  const children: ChildProcess[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = once(child, 'exit')
        child.kill('SIGKILL')
        await exited
      }),
    )
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const ports = await freePorts(masters)
    const nodes = ports.map((port) => startNode(port, dir))
    children.push(...nodes.map((node) => node.child))
    await Promise.all(nodes.map((node) => node.ready))
    const seeds = ports.map((port) => `127.0.0.1:${port}`)
    await run(REDIS_CLI, [
      '--cluster',
      'create',
      ...seeds,
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    const admins = ports.map(
      (port) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 }),
    )
    try {
      for (const admin of admins) admin.on('error', () => undefined)
      await until(async () => {
        const infos = await Promise.all(admins.map((admin) => admin.cluster('INFO')))
        return infos.every((info) => String(info).includes('cluster_state:ok'))
      }, 'cluster_state:ok')
    } finally {
      for (const admin of admins) admin.disconnect()
    }
    return { seeds, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
