// Redis-side cost of the one-trip admission: runs N `admit` calls the way the core makes them
// (an IP counter then a user counter, caps per user, IP and total that refuse nothing, a fresh
// user, token and session per call, one IP as from loopback) through `createRedisStores` on a
// redis-server of its own (so that nobody else's commands are counted, and nobody's stats are
// reset), then prints evalsha's usec_per_call and the inner commands per admission from
// INFO commandstats.
//
//   pnpm --filter @ws-warden/redis build
//   node packages/redis/bench-notes/admit-stats.mjs [N=5000] [buckets=1] [inflight=32] [ips=one]
//   VALGRIND=1 node packages/redis/bench-notes/admit-stats.mjs 1000 ...
//
// DIST=<a dist folder> measures another build (one copied under packages/redis/node_modules
// still resolves its imports): so that a before and an after can be run in turn.
// buckets=1 is the one-script layout; buckets=16 the sharded (Cluster) layout, which runs on a
// single Redis too (its two scripts and what they call are counted together). ips=each gives every
// connection its own IP (so its IP window opens too), ips=one shares one, as from loopback.
// BATCH=1 sends the admissions through the warden's batching in front of `admitMany` (one
// layout: buckets=1), as `admit-many.mjs` does.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { pathToFileURL } from 'node:url'
import { AdmissionBatcher } from '@ws-warden/core/stores'
import { Redis } from 'ioredis'

const dist = process.env.DIST ?? new URL('../dist', import.meta.url).pathname
const { createRedisStores } = await import(pathToFileURL(`${dist}/index.js`).href)
const N = Number(process.argv[2] ?? 5000)
const buckets = Number(process.argv[3] ?? 1)
const inflight = Number(process.argv[4] ?? 32)
/** `one`: every connection from one IP (as from loopback); `each`: an IP per connection. */
const ips = process.argv[5] ?? 'one'

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

const port = await freePort()
const redisArgs = [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
]
const redisServer = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'
// VALGRIND=1: the server runs under callgrind, counting only the instructions run inside
// EVALSHA (the scripts and every command they call): a count that another process' load on the
// machine does not move, unlike times. About 50 times slower: use a smaller N.
const callgrindOut = `${tmpdir()}/admit-stats.${port}.callgrind`
const server = process.env.VALGRIND
  ? spawn(
      'valgrind',
      [
        '--tool=callgrind',
        '--toggle-collect=evalShaCommand',
        `--callgrind-out-file=${callgrindOut}`,
        `--log-file=${callgrindOut}.log`,
        redisServer,
        ...redisArgs,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
  : spawn(redisServer, redisArgs, { stdio: ['ignore', 'pipe', 'inherit'] })
let output = ''
server.stdout.on('data', (chunk) => (output += chunk))
while (!output.includes('Ready to accept connections')) {
  if (server.exitCode !== null) throw new Error(output)
  await new Promise((resolve) => setTimeout(resolve, 10))
}

const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => null })
/** The server's main thread CPU time (user + sys), µs: what every command costs, I/O included. */
async function mainThreadCpu() {
  const info = await client.info('cpu')
  const read = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)[1])
  return (read('used_cpu_user_main_thread') + read('used_cpu_sys_main_thread')) * 1e6
}
try {
  const prefix = `bench_${process.pid}_${Date.now()}`
  const stores = await createRedisStores({ client, prefix, buckets })
  const caps = { perUser: 1_000_000, perIp: 1_000_000, total: 1_000_000 }
  const request = (n) => {
    const ip = ips === 'each' ? `198.18.${(n >> 8) & 255}.${n & 255}` : '127.0.0.1'
    const now = Date.now()
    const userId = `u${n}`
    return {
      attempts: [
        { key: `connect:ip:${ip}`, limit: 1_000_000_000 },
        { key: `connect:user:${userId}`, limit: 1_000_000_000 },
      ],
      windowMs: 60_000,
      userId,
      jti: `jti-${n}`,
      tokenExpiresAt: now + 3_600_000,
      session: {
        record: {
          id: `c${n}`,
          userId,
          instanceId: 'i',
          ip,
          channels: [],
          connectedAt: now,
          lastSeenAt: now,
        },
        caps,
      },
    }
  }
  // Loads the scripts (EVAL once each) before the stats are reset.
  await stores.admission.admit(request(-1))
  await client.config('RESETSTAT')
  const cpuBefore = await mainThreadCpu()
  const { admission } = stores
  const batcher = new AdmissionBatcher((r) => admission.admitMany(r), admission.admitManyLimit)
  const admit = process.env.BATCH ? (r) => batcher.admit(r) : (r) => admission.admit(r)
  let next = 0
  const worker = async () => {
    while (next < N) {
      const answer = await admit(request(next++))
      if (!answer.ok) throw new Error(JSON.stringify(answer))
    }
  }
  await Promise.all(Array.from({ length: inflight }, worker))
  const cpuMicros = (await mainThreadCpu()) - cpuBefore
  const info = await client.info('commandstats')
  const rows = []
  for (const line of info.split('\n')) {
    const m = /^cmdstat_(\w+):calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/.exec(line)
    if (m) rows.push({ cmd: m[1], calls: Number(m[2]), usec: Number(m[3]), perCall: Number(m[4]) })
  }
  rows.sort((a, b) => b.calls - a.calls)
  const batch = process.env.BATCH ? ' batched' : ''
  console.log(`N=${N} buckets=${buckets} inflight=${inflight} ips=${ips}${batch} redis ${port}`)
  console.log(`redis main thread CPU (user+sys): ${(cpuMicros / N).toFixed(2)} us/admit`)
  for (const { cmd, calls, usec, perCall } of rows) {
    if (cmd === 'config' || cmd === 'info') continue
    const each = (calls / N).toFixed(3).padStart(7)
    console.log(
      `${cmd.padEnd(18)} ${each}/admit  calls=${calls}  usec_per_call=${perCall}  usec/admit=${(usec / N).toFixed(2)}`,
    )
  }
  await stores.close()
  if (process.env.VALGRIND) {
    // callgrind writes its counts when the server exits.
    await client.shutdown('NOSAVE').catch(() => {})
    if (server.exitCode === null) await once(server, 'exit')
    const totals = /^(?:totals|summary): (\d+)/m.exec(readFileSync(callgrindOut, 'utf8'))
    const each = (Number(totals[1]) / N).toFixed(0)
    console.log(`instructions inside EVALSHA (callgrind Ir): ${each}/admit`)
    // KEEP=1 keeps the profile, for callgrind_annotate.
    if (process.env.KEEP) console.log(`profile: ${callgrindOut}`)
    else rmSync(callgrindOut, { force: true })
    rmSync(`${callgrindOut}.log`, { force: true })
  }
} finally {
  client.disconnect()
  server.kill('SIGKILL')
}
