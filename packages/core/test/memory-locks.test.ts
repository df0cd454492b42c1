import t from 'tap'
import { MemoryLockStore } from '../src/stores.js'

t.test('one holder at a time; released locks are free again', async (t) => {
  const locks = new MemoryLockStore()
  const release = await locks.acquire('sweep', 1_000)
  t.type(release, 'function')
  t.equal(await locks.acquire('sweep', 1_000), null, 'a second holder is refused at once')
  t.type(await locks.acquire('other', 1_000), 'function', 'names are independent')
  await release!()
  await release!()
  const again = await locks.acquire('sweep', 1_000)
  t.type(again, 'function')
})

t.test('an expired lock can be taken, and its old holder cannot release the new one', async (t) => {
  let now = 1_000
  const locks = new MemoryLockStore({ clock: { now: () => now } })
  const first = await locks.acquire('sweep', 100)
  now += 100
  const second = await locks.acquire('sweep', 100)
  t.type(second, 'function', 'expired after ttlMs')
  await first!()
  t.equal(await locks.acquire('sweep', 100), null, 'the stale release did not free the new holder')
})

t.test('bad arguments and options are refused', async (t) => {
  t.throws(() => new MemoryLockStore({ clock: {} as never }), TypeError)
  await t.rejects(new MemoryLockStore().acquire('x', 0), TypeError)
})

t.test('close drops every lock', async (t) => {
  const locks = new MemoryLockStore()
  await locks.acquire('a', 10_000)
  await locks.close()
  t.type(await locks.acquire('a', 10_000), 'function')
})
