// What `admitMany` buys under a burst: N distinct handshakes (loose limits and caps, a fresh
// user, token and session each, one IP as from loopback), `inflight` at once, through
// (a) `admission.admit` per handshake, one EVALSHA each, and
// (b) `admission.admit` through the warden's batching in front of `admitMany`
//     (`new AdmissionBatcher((r) => store.admitMany(r), store.admitManyLimit)`),
// in interleaved rounds a, b, a, b, ... on a redis-server of its own (emptied before each round,
// so every round starts from the same state and nobody else's commands are counted). Per round:
// admissions/s, this process' CPU per admission (process.cpuUsage, user + sys), the server's CPU
// per admission (INFO cpu used_cpu_user + used_cpu_sys), EVALSHA calls and usec_per_call (the
// time one script held the server). Prints each round, then the medians per mode.
//
//   pnpm --filter @ws-warden/redis build
//   node packages/redis/bench-notes/admit-many.mjs [N=5000] [inflight=100] [pairs=5]
//
// BASELINE=<a dist folder> adds a mode `base`: `admit` of another build (one copied under
// packages/redis/node_modules still resolves its imports), on a client of its own, in each round
// after a and b: so that `admit` before admitMany can be compared with `admit` now.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { AdmissionBatcher } from '@ws-warden/core/stores'
import { Redis } from 'ioredis'
import { pathToFileURL } from 'node:url'
import { createRedisStores } from '../dist/index.js'

const N = Number(process.argv[2] ?? 5000)
const inflight = Number(process.argv[3] ?? 100)
const pairs = Number(process.argv[4] ?? 5)

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

const port = await freePort()
const server = spawn(
  process.env.REDIS_SERVER ?? '/usr/bin/redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
)
let output = ''
server.stdout.on('data', (chunk) => (output += chunk))
while (!output.includes('Ready to accept connections')) {
  if (server.exitCode !== null) throw new Error(output)
  await new Promise((resolve) => setTimeout(resolve, 10))
}

const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => null })

/** The server's CPU time, µs: all threads (user + sys), and the main thread's. */
async function serverCpu() {
  const info = await client.info('cpu')
  const read = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)[1]) * 1e6
  return {
    all: read('used_cpu_user') + read('used_cpu_sys'),
    main: read('used_cpu_user_main_thread') + read('used_cpu_sys_main_thread'),
  }
}

async function evalsha() {
  const info = await client.info('commandstats')
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/.exec(info)
  return m ? { calls: Number(m[1]), perCall: Number(m[3]) } : { calls: 0, perCall: 0 }
}

const caps = { perUser: 1_000_000, perIp: 1_000_000, total: 1_000_000 }
function request(round, n) {
  const now = Date.now()
  const userId = `u${round}-${n}`
  return {
    attempts: [
      { key: 'connect:ip:127.0.0.1', limit: 1_000_000_000 },
      { key: `connect:user:${userId}`, limit: 1_000_000_000 },
    ],
    windowMs: 60_000,
    userId,
    jti: `jti-${round}-${n}`,
    tokenExpiresAt: now + 3_600_000,
    session: {
      record: {
        id: `c${round}-${n}`,
        userId,
        instanceId: 'i',
        ip: '127.0.0.1',
        channels: [],
        connectedAt: now,
        lastSeenAt: now,
      },
      caps,
    },
  }
}

const stores = await createRedisStores({ client, prefix: 'bench' })
const store = stores.admission
// LIMIT=<n> caps the batches below admitManyLimit: what smaller calls would cost.
const limit = Number(process.env.LIMIT ?? store.admitManyLimit)
const batcher = new AdmissionBatcher((r) => store.admitMany(r), limit)
const modes = { a: (r) => store.admit(r), b: (r) => batcher.admit(r) }
const closing = [stores]
if (process.env.BASELINE) {
  const base = await import(pathToFileURL(`${process.env.BASELINE}/index.js`).href)
  const own = new Redis({ port, host: '127.0.0.1', retryStrategy: () => null })
  const baseStores = await base.createRedisStores({ client: own, prefix: 'bench' })
  closing.push(baseStores, { close: async () => own.disconnect() })
  // Loads its script on its connection before anything is counted.
  await baseStores.admission.admit(request(-1, -1))
  modes.base = (r) => baseStores.admission.admit(r)
}
const order = Object.keys(modes)

async function round(mode, index) {
  const requests = Array.from({ length: N }, (_, n) => request(index, n))
  await client.flushall()
  // Loads the script on this connection (EVAL once) before anything is counted.
  await store.admit(request(index, -1))
  await client.config('RESETSTAT')
  const admit = modes[mode]
  const redisBefore = await serverCpu()
  const nodeBefore = process.cpuUsage()
  const started = process.hrtime.bigint()
  let next = 0
  const worker = async () => {
    while (next < N) {
      const answer = await admit(requests[next++])
      if (!answer.ok) throw new Error(JSON.stringify(answer))
    }
  }
  await Promise.all(Array.from({ length: inflight }, worker))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const node = process.cpuUsage(nodeBefore)
  const redis = await serverCpu()
  const scripts = await evalsha()
  return {
    mode,
    perSecond: N / seconds,
    nodeUs: (node.user + node.system) / N,
    redisUs: (redis.all - redisBefore.all) / N,
    redisMainUs: (redis.main - redisBefore.main) / N,
    calls: scripts.calls,
    usecPerCall: scripts.perCall,
  }
}

const median = (values) => {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
const show = (r) =>
  `${r.mode}  ${r.perSecond.toFixed(0).padStart(6)} admits/s  node ${r.nodeUs.toFixed(1).padStart(5)} us/admit` +
  `  redis ${r.redisUs.toFixed(1).padStart(5)} us/admit (main thread ${r.redisMainUs.toFixed(1)})` +
  `  evalsha calls=${r.calls} (${(N / r.calls).toFixed(1)}/call) usec_per_call=${r.usecPerCall}`

try {
  console.log(
    `N=${N} inflight=${inflight} pairs=${pairs} admitManyLimit=${store.admitManyLimit} batches of at most ${limit}`,
  )
  // A warm-up round of each mode, not counted (the JIT, the server's allocator).
  for (const [i, mode] of order.entries()) await round(mode, -2 - i)
  const results = []
  for (let i = 0; i < pairs; i++) {
    for (const mode of order) {
      const result = await round(mode, results.length)
      results.push(result)
      console.log(show(result))
    }
  }
  for (const mode of order) {
    const mine = results.filter((r) => r.mode === mode)
    const pick = (name) => median(mine.map((r) => r[name]))
    console.log(
      `median ${show({
        mode,
        ...Object.fromEntries(
          Object.keys(mine[0])
            .filter((k) => k !== 'mode')
            .map((k) => [k, pick(k)]),
        ),
      })}`,
    )
  }
} finally {
  for (const one of closing) await one.close()
  client.disconnect()
  server.kill('SIGKILL')
}
