// The memory stores' one-step admission answers as the composed calls do (the admission group).
import t from 'tap'
import {
  MemoryAdmissionStore,
  MemoryRateLimitStore,
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
    }
    return {
      admission: new MemoryAdmissionStore(stores),
      cleanup: async () => {
        await Promise.all(Object.values(stores).map((store) => store.close()))
      },
    }
  },
})

t.same(kinds, ['admission'], 'the admission group runs on MemoryAdmissionStore')
