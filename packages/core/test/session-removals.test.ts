import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { MemorySessionStore } from '../src/memory/index.js'
import { REMOVE_MANY_LIMIT, SessionRemovals } from '../src/session-removals.js'

/** A batching whose calls the test answers; `tracked` holds every promise it tracked. */
function setup(limit?: number) {
  const calls: { ids: readonly string[]; answer: (error?: Error) => void }[] = []
  const tracked: Promise<unknown>[] = []
  const removals = new SessionRemovals({
    send: (ids) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ ids, answer: (error) => (error ? reject(error) : resolve()) })
      }),
    track: (work) => {
      tracked.push(work)
      work.catch(() => {})
    },
    ...(limit !== undefined && { limit }),
  })
  return { removals, calls, tracked }
}

t.test('the removals of one turn leave in one call, after the turn', async (t) => {
  const { removals, calls } = setup()
  removals.remove('a')
  removals.remove('b')
  removals.remove('c')
  t.equal(calls.length, 0, 'nothing is sent in the turn of the close')
  t.equal(removals.waiting, 3)
  await nextTurn()
  t.same(
    calls.map((call) => call.ids),
    [['a', 'b', 'c']],
  )
  t.equal(removals.waiting, 0)
})

t.test('a turn with more ids than the limit makes calls of the limit', async (t) => {
  const { removals, calls } = setup(2)
  for (const id of ['a', 'b', 'c', 'd', 'e']) removals.remove(id)
  await nextTurn()
  t.same(
    calls.map((call) => call.ids),
    [
      ['a', 'b'],
      ['c', 'd'],
    ],
    'two calls out at most',
  )
  t.equal(removals.waiting, 1)
  calls[0]!.answer()
  await nextTurn()
  t.same(calls[2]?.ids, ['e'], 'the rest leaves as a call ends')
})

t.test('while two calls are out, later ids wait and leave together when one ends', async (t) => {
  const { removals, calls } = setup()
  removals.remove('a')
  await nextTurn()
  removals.remove('b')
  await nextTurn()
  t.equal(calls.length, 2)
  removals.remove('c')
  removals.remove('d')
  await nextTurn()
  removals.remove('e')
  await nextTurn()
  t.equal(calls.length, 2, 'nothing more goes out while two are in flight')
  t.equal(removals.waiting, 3)
  calls[1]!.answer()
  await nextTurn()
  t.same(calls[2]?.ids, ['c', 'd', 'e'])
})

t.test('a removal is tracked from the moment it is queued, not from its call', async (t) => {
  const { removals, calls, tracked } = setup()
  removals.remove('a')
  t.equal(tracked.length, 1, 'a shutdown in this turn has something to wait for')
  await tracked[0]
  t.equal(calls.length, 1, 'which ends once the call is out (and tracked itself)')
  t.equal(tracked.length, 2)
})

t.test('a failed call is tracked as failed; later removals still go', async (t) => {
  const { removals, calls, tracked } = setup()
  removals.remove('a')
  await nextTurn()
  calls[0]!.answer(new Error('down'))
  const outcomes = await Promise.allSettled(tracked)
  t.ok(
    outcomes.some((outcome) => outcome.status === 'rejected'),
    'the failure reaches the tracker',
  )
  removals.remove('b')
  await nextTurn()
  t.same(calls[1]?.ids, ['b'])
})

t.test('a send that throws is a failed call, not a stuck batching', async (t) => {
  let sends = 0
  const tracked: Promise<unknown>[] = []
  const removals = new SessionRemovals({
    send: () => {
      sends++
      throw new Error('thrown')
    },
    track: (work) => void tracked.push(work.catch((error: Error) => error.message)),
  })
  for (let i = 0; i < 3; i++) {
    removals.remove(`id${i}`)
    await nextTurn()
  }
  t.equal(sends, 3, 'each turn sent its call: no slot was left taken')
  t.ok((await Promise.all(tracked)).includes('thrown'))
})

t.test('the limit must be a positive integer', async (t) => {
  for (const limit of [0, -1, 1.5, Number.NaN]) {
    t.throws(
      () => new SessionRemovals({ send: async () => {}, track: () => {}, limit }),
      /positive integer/,
    )
  }
  t.equal(REMOVE_MANY_LIMIT, 256)
})

t.test('a store without removeMany gets no batching', async (t) => {
  const store = new MemorySessionStore()
  t.equal(SessionRemovals.of(store, { guard: (op) => op(), track: () => {} }), undefined)
})

t.test("a store's removeMany is called on the store, through the guard", async (t) => {
  const store = new (class extends MemorySessionStore {
    readonly seen: string[][] = []
    async removeMany(ids: readonly string[]): Promise<number> {
      this.seen.push([...ids])
      return ids.length
    }
  })()
  const guarded: number[] = []
  const tracked: Promise<unknown>[] = []
  const removals = SessionRemovals.of(store, {
    guard: async (operation) => {
      const removed = await operation()
      guarded.push(removed)
      return removed
    },
    track: (work) => void tracked.push(work),
  })
  removals?.remove('a')
  removals?.remove('b')
  await Promise.all(tracked)
  await Promise.all(tracked)
  t.same(store.seen, [['a', 'b']])
  t.same(guarded, [2], 'the guard saw the call and its answer')
})
