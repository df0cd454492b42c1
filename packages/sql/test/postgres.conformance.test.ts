import t from 'tap'
import { storeConformance } from '@ws-warden/store-tests'
import { createSqlStores, migrate, PostgresBroker } from '../src/index.js'
import { pgPool, randomName, reachable } from './helpers/servers.js'

const pool = pgPool()
const schema = randomName('wsw_conformance_')
t.teardown(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {})
  await pool.end()
})

if (await reachable(t, 'PostgreSQL', () => pool.query('SELECT 1'))) {
  const kinds = await storeConformance({
    register: (name, fn) => void t.test(name, async () => fn()),
    // A bound on the wait for a delivery, not a measurement: generous, for a loaded machine.
    deliveryTimeoutMs: 15_000,
    createStores: async () => {
      // Each call gets its own tables, in the run's own schema (dropped at the end).
      const prefix = `${randomName('c')}_`
      await migrate({ pool, schema, prefix })
      const stores = createSqlStores({ pool, schema, prefix })
      const broker = new PostgresBroker({ pool, schema, prefix })
      const cleanup = async () => {
        await broker.close()
        await stores.close()
      }
      return { ...stores, broker, cleanup }
    },
  })
  t.same(kinds, [
    'sessions',
    'tokens',
    'rateLimits',
    'broker',
    'locks',
    'history',
    'resumes',
    'admission',
  ])
}
