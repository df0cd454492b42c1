// The memory stores' one-step admission answers as the composed calls do (the admission group).
import t from 'tap'
import {
  MemoryAdmissionStore,
  MemoryRateLimitStore,
  MemorySessionStore,
  MemoryTokenStore,
} from '@ws-warden/core/stores'
import { admitManyConformance, storeConformance } from '../src/index.js'

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

t.test(
  'admitManyConformance on a store without admitMany fails its tests, not skips',
  async (t) => {
    const registered: (() => Promise<void>)[] = []
    const stores = {
      sessions: new MemorySessionStore(),
      tokens: new MemoryTokenStore(),
      rateLimits: new MemoryRateLimitStore(),
    }
    t.teardown(() => Promise.all(Object.values(stores).map((store) => store.close())))
    const reference = new MemoryAdmissionStore(stores)
    admitManyConformance({
      register: (_name, fn) => void registered.push(fn),
      createStores: async () => ({ admission: { ...stores, admit: (r) => reference.admit(r) } }),
    })
    t.ok(registered.length > 10, 'the batched admission tests and its own')
    for (const fn of [registered[0]!, registered.at(-1)!]) {
      await t.rejects(fn(), { message: 'this admission store has no admitMany' })
    }
  },
)
