import t from 'tap'
import {
  ComposedAdmission,
  MemoryBroker,
  MemoryHistoryStore,
  MemoryLockStore,
  MemoryRateLimitStore,
  MemoryResumeStore,
  MemorySessionStore,
  MemoryTokenStore,
} from '@ws-warden/core/stores'
import { storeConformance } from '../src/index.js'

const kinds = await storeConformance({
  register: (name, fn) => void t.test(name, async () => fn()),
  createStores: async () => {
    const stores = {
      sessions: new MemorySessionStore(),
      tokens: new MemoryTokenStore(),
      rateLimits: new MemoryRateLimitStore(),
      broker: new MemoryBroker(),
      locks: new MemoryLockStore(),
      history: new MemoryHistoryStore(),
      resumes: new MemoryResumeStore(),
    }
    return {
      ...stores,
      admission: new ComposedAdmission(stores),
      cleanup: async () => {
        await Promise.all(Object.values(stores).map((store) => store.close()))
      },
    }
  },
})

t.same(
  kinds,
  ['sessions', 'tokens', 'rateLimits', 'broker', 'locks', 'history', 'resumes', 'admission'],
  'every group runs on memory',
)
