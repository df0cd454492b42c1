import t from 'tap'
import { MemoryBroker } from '../src/memory/index.js'

/** Lets queued microtasks (deliveries) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

t.test('options and handlers are validated', async (t) => {
  t.throws(() => new MemoryBroker({ onError: 'log' as never }), {
    name: 'TypeError',
    message: /MemoryBroker option onError must be a function/,
  })
  const broker = new MemoryBroker()
  await t.rejects(broker.subscribe('t', null as never), { name: 'TypeError', message: /handler/ })
})

t.test('delivery is asynchronous, so a publisher is never re-entered', async (t) => {
  const broker = new MemoryBroker()
  const got: string[] = []
  await broker.subscribe('t', (payload) => got.push(payload))
  const published = broker.publish('t', 'one')
  t.same(got, [], 'nothing delivered during publish')
  await published
  await settle()
  t.same(got, ['one'])
  await broker.publish('nobody-listens', 'x')
})

t.test('payloads published in order arrive in order, on their topic only', async (t) => {
  const broker = new MemoryBroker()
  const a: string[] = []
  const b: string[] = []
  await broker.subscribe('a', (payload) => a.push(payload))
  await broker.subscribe('b', (payload) => b.push(payload))
  for (const payload of ['1', '2', '3']) await broker.publish('a', payload)
  await broker.publish('b', 'x')
  await settle()
  t.same(a, ['1', '2', '3'])
  t.same(b, ['x'])
})

t.test('a throwing handler does not stop the others; onError gets the error', async (t) => {
  const errors: [unknown, string][] = []
  const broker = new MemoryBroker({ onError: (error, topic) => errors.push([error, topic]) })
  const boom = new Error('boom')
  const got: string[] = []
  await broker.subscribe('t', () => {
    throw boom
  })
  await broker.subscribe('t', (payload) => got.push(payload))
  await broker.publish('t', 'p')
  await settle()
  t.same(got, ['p'])
  t.same(errors, [[boom, 't']])
})

t.test('a throwing onError, or none, still lets every handler run', async (t) => {
  for (const broker of [
    new MemoryBroker(),
    new MemoryBroker({
      onError: () => {
        throw new Error('onError failed')
      },
    }),
  ]) {
    const got: string[] = []
    await broker.subscribe('t', () => {
      throw new Error('boom')
    })
    await broker.subscribe('t', (payload) => got.push(payload))
    await broker.publish('t', 'p')
    await settle()
    t.same(got, ['p'])
  }
})

t.test('unsubscribe is idempotent and drops deliveries already queued', async (t) => {
  const broker = new MemoryBroker()
  const got: string[] = []
  const unsubscribe = await broker.subscribe('t', (payload) => got.push(payload))
  const kept: string[] = []
  const unsubscribeKept = await broker.subscribe('t', (payload) => kept.push(payload))
  // Not awaited in between: the delivery is queued when the subscription ends.
  const published = broker.publish('t', 'queued')
  const ended = unsubscribe()
  await Promise.all([published, ended, unsubscribe()])
  await settle()
  t.same(got, [])
  t.same(kept, ['queued'])
  await unsubscribeKept()
  await broker.publish('t', 'after')
  await settle()
  t.same(kept, ['queued'], 'the last unsubscribe removed the topic')
  const again: string[] = []
  await broker.subscribe('t', (payload) => again.push(payload))
  await broker.publish('t', 'back')
  await settle()
  t.same(again, ['back'])
})

t.test('the same handler subscribed twice receives twice', async (t) => {
  const broker = new MemoryBroker()
  const got: string[] = []
  const handler = (payload: string) => void got.push(payload)
  await broker.subscribe('t', handler)
  await broker.subscribe('t', handler)
  await broker.publish('t', 'p')
  await settle()
  t.same(got, ['p', 'p'])
})

t.test('one broker shared by two wardens acts as a cluster', async (t) => {
  const broker = new MemoryBroker()
  const first: string[] = []
  const second: string[] = []
  await broker.subscribe('user:1', (payload) => first.push(`first ${payload}`))
  await broker.subscribe('user:1', (payload) => second.push(`second ${payload}`))
  await broker.publish('user:1', '{"from":"first"}')
  await settle()
  t.same(first, ['first {"from":"first"}'])
  t.same(second, ['second {"from":"first"}'])
})

t.test('close ends every subscription, queued deliveries included', async (t) => {
  const broker = new MemoryBroker()
  const got: string[] = []
  const unsubscribe = await broker.subscribe('t', (payload) => got.push(payload))
  await broker.subscribe('u', (payload) => got.push(payload))
  const published = broker.publish('t', 'queued')
  await Promise.all([published, broker.close()])
  await broker.publish('t', 'after')
  await broker.publish('u', 'after')
  await settle()
  t.same(got, [])
  await unsubscribe()
  const later: string[] = []
  await broker.subscribe('t', (payload) => later.push(payload))
  await broker.publish('t', 'p')
  await settle()
  t.same(later, ['p'], 'usable again, and the old unsubscribe touched nothing')
})
