import t from 'tap'
import { storeConformance } from '@ws-warden/store-tests'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from 'ioredis'
import { createRedisStores } from '../src/index.js'
import { OwnRedis, freePort, randomPrefix, until } from './helpers/redis.js'

// A three-node Redis Cluster of the test's own: every script must find its keys in one slot
// (a CROSSSLOT error otherwise), and the broker must work over a Cluster client.
const dir = mkdtempSync(join(tmpdir(), 'wsw-cluster-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const nodes: OwnRedis[] = []
for (let i = 0; i < 3; i++) {
  const port = await freePort()
  const config = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(dir, `nodes-${port}.conf`),
  ]
  nodes.push(new OwnRedis(port, [...config, '--dir', dir]))
}
t.teardown(() => Promise.all(nodes.map((node) => node.stop())))

const skip = await (async () => {
  for (const node of nodes) await node.start()
  const addresses = nodes.map((node) => `127.0.0.1:${node.port}`)
  const create = spawnSync(
    process.env.REDIS_CLI ?? '/usr/bin/redis-cli',
    ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
    { encoding: 'utf8', timeout: 20_000 },
  )
  if (create.status !== 0)
    throw new Error(`redis-cli --cluster create: ${create.stdout}${create.stderr}`)
  return false
})().catch((error: unknown) => {
  if (process.env.CI === 'true') throw error
  return `cannot start a Redis Cluster: ${String(error)}`
})

t.test('the stores on Redis Cluster', { skip }, async (t) => {
  const cluster = new Cluster(nodes.map((node) => ({ host: '127.0.0.1', port: node.port })))
  cluster.on('error', () => {})
  t.teardown(() => void cluster.disconnect())
  await until(
    async () => (await cluster.cluster('INFO').catch(() => '')).includes('cluster_state:ok'),
    'the cluster',
    20_000,
  )
  await storeConformance({
    register: (name, fn) => void t.test(name, async () => fn()),
    createStores: async () => {
      const stores = await createRedisStores({ client: cluster, prefix: randomPrefix() })
      return { ...stores, cleanup: () => stores.close() }
    },
  })
})
