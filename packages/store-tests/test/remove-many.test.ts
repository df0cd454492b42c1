import t from 'tap'
import { MemorySessionStore } from '@ws-warden/core/stores'
import { removeManyConformance, storeConformance } from '../src/index.js'

/** A memory session store with `removeMany`, one `remove` per id (or, broken, only the first). */
class RemovingSessions extends MemorySessionStore {
  constructor(private readonly broken = false) {
    super()
  }
  async removeMany(ids: readonly string[]): Promise<number> {
    let removed = 0
    for (const id of this.broken ? ids.slice(0, 1) : ids) if (await this.remove(id)) removed++
    return removed
  }
}

const names: string[] = []
const kinds = await storeConformance({
  register: (name, fn) => {
    names.push(name)
    void t.test(name, async () => fn())
  },
  createStores: async () => {
    const sessions = new RemovingSessions()
    return { sessions, cleanup: () => sessions.close() }
  },
})
t.same(kinds, ['sessions'])
t.ok(
  names.some((name) => name.startsWith('sessions: removeMany: ')),
  'a session store with removeMany gets the group',
)

t.test('a removeMany that drops ids fails the group', async (t) => {
  const tests: { name: string; fn: () => Promise<void> }[] = []
  removeManyConformance({
    register: (name, fn) => void tests.push({ name, fn }),
    createStores: async () => ({ sessions: new RemovingSessions(true) }),
  })
  const outcomes = await Promise.allSettled(tests.map(({ fn }) => fn()))
  const failed = tests.filter((_, i) => outcomes[i]?.status === 'rejected').map(({ name }) => name)
  t.ok(failed.length >= 3, `most of the group fails (${failed.join('; ')})`)
})

t.test('the group refuses a store without removeMany', async (t) => {
  const tests: (() => Promise<void>)[] = []
  removeManyConformance({
    register: (_name, fn) => void tests.push(fn),
    createStores: async () => ({ sessions: new MemorySessionStore() }),
  })
  await t.rejects(tests[0]!(), /no removeMany/)
})
