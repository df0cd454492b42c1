import t from 'tap'
import { storeConformance } from '@ws-warden/store-tests'
import { createRedisStores } from '../src/index.js'
import { deleteKeys, randomPrefix, sharedRedis } from './helpers/redis.js'

// The bucketed layout (the default on a Cluster) on the standalone Redis: the same suite, with
// the sessions sharded by user and the caps in their own keys.
const client = await sharedRedis(t)

if (client !== undefined) {
  const kinds = await storeConformance({
    register: (name, fn) => void t.test(name, async () => fn()),
    createStores: async () => {
      const prefix = randomPrefix()
      const stores = await createRedisStores({ client, prefix, buckets: 16 })
      return {
        ...stores,
        cleanup: async () => {
          await stores.close()
          await deleteKeys(client, prefix)
        },
      }
    },
  })
  t.equal(kinds.length, 8, 'every group runs, admission in two trips')
}
