import t from 'tap'
import { storeConformance } from '@ws-warden/store-tests'
import { createSqlStores, migrate } from '../src/index.js'
import { dropMysqlTables, mysqlPool, randomName, reachable } from './helpers/servers.js'

const pool = mysqlPool()
t.teardown(() => pool.end())

if (await reachable(t, 'MariaDB', () => pool.query('SELECT 1'))) {
  const kinds = await storeConformance({
    register: (name, fn) => void t.test(name, async () => fn()),
    createStores: async () => {
      // Each call gets its own tables under a random prefix, dropped in cleanup.
      const prefix = `${randomName('wsw_')}_`
      await migrate({ pool, prefix })
      const stores = createSqlStores({ pool, prefix })
      const cleanup = async () => {
        await stores.close()
        await dropMysqlTables(pool, prefix)
      }
      return { ...stores, cleanup }
    },
  })
  t.same(kinds, ['sessions', 'tokens', 'rateLimits', 'locks', 'history', 'resumes', 'admission'])
}
