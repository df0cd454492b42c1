import t from 'tap'
import { storeConformance } from '@ws-warden/store-tests'
import { createRedisStores } from '../src/index.js'
import { deleteKeys, randomPrefix, sharedRedis } from './helpers/redis.js'

const client = await sharedRedis(t)

if (client !== undefined) {
  const kinds = await storeConformance({
    register: (name, fn) => void t.test(name, async () => fn()),
    createStores: async () => {
      const prefix = randomPrefix()
      const stores = await createRedisStores({ client, prefix })
      return {
        ...stores,
        cleanup: async () => {
          await stores.close()
          await deleteKeys(client, prefix)
        },
      }
    },
  })
  t.same(
    kinds,
    ['sessions', 'tokens', 'rateLimits', 'broker', 'locks', 'history', 'resumes', 'admission'],
    'every group runs',
  )
}
