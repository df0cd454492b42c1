import t from 'tap'
import type { Broker, BrokerHandler } from '../src/stores.js'
import { TopicSubscriptions } from '../src/topics.js'

/** Resolves or rejects on command: lets a test hold a subscription half-way. */
function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** A broker that counts calls; `hold` makes the next subscribe wait for the test. */
class FakeBroker implements Broker {
  readonly subscribed: string[] = []
  readonly unsubscribed: string[] = []
  readonly handlers = new Map<string, BrokerHandler>()
  failUnsubscribe = false
  private held: ReturnType<typeof deferred<void>> | undefined

  hold() {
    this.held = deferred<void>()
    return this.held
  }

  async publish(topic: string, payload: string): Promise<void> {
    this.handlers.get(topic)?.(payload)
  }

  async subscribe(topic: string, handler: BrokerHandler): Promise<() => Promise<void>> {
    this.subscribed.push(topic)
    const held = this.held
    this.held = undefined
    if (held) await held.promise
    this.handlers.set(topic, handler)
    return async () => {
      this.unsubscribed.push(topic)
      this.handlers.delete(topic)
      if (this.failUnsubscribe) throw new Error('broker gone')
    }
  }
}

/** Settles pending microtasks and promise callbacks. */
const flush = () => new Promise((resolve) => setImmediate(resolve))

t.test('one broker subscription per topic, however many members', async (t) => {
  const broker = new FakeBroker()
  const topics = new TopicSubscriptions(broker, () => () => {})
  await topics.acquire('channel:room')
  await topics.acquire('channel:room')
  await topics.acquire('user:alice')
  t.same(broker.subscribed, ['channel:room', 'user:alice'])
  await topics.release('channel:room')
  t.same(broker.unsubscribed, [], 'one member is left')
  await topics.release('channel:room')
  t.same(broker.unsubscribed, ['channel:room'], 'the last member left')
  await topics.release('channel:room')
  await topics.release('never-acquired')
  t.same(broker.unsubscribed, ['channel:room'], 'releasing an inactive topic does nothing')
  await topics.acquire('channel:room')
  t.same(broker.subscribed, ['channel:room', 'user:alice', 'channel:room'], 'subscribed afresh')
})

t.test('a second acquire waits until the subscription is active', async (t) => {
  const broker = new FakeBroker()
  const topics = new TopicSubscriptions(broker, () => () => {})
  const held = broker.hold()
  const order: string[] = []
  const first = topics.acquire('all').then(() => order.push('first'))
  const second = topics.acquire('all').then(() => order.push('second'))
  await flush()
  t.same(order, [], 'neither resolves before the broker answers')
  held.resolve()
  await Promise.all([first, second])
  t.same(order, ['first', 'second'])
  t.same(broker.subscribed, ['all'])
})

t.test('each topic gets its own handler', async (t) => {
  const broker = new FakeBroker()
  const received: string[] = []
  const topics = new TopicSubscriptions(
    broker,
    (topic) => (payload) => received.push(`${topic}:${payload}`),
  )
  await topics.acquire('user:alice')
  await topics.acquire('user:bob')
  await broker.publish('user:bob', 'hi')
  await broker.publish('user:alice', 'yo')
  t.same(received, ['user:bob:hi', 'user:alice:yo'])
})

t.test('a failed subscription rejects every waiter and is forgotten', async (t) => {
  const broker = new FakeBroker()
  const topics = new TopicSubscriptions(broker, () => () => {})
  const held = broker.hold()
  const first = t.rejects(topics.acquire('channel:room'), { message: 'broker down' })
  const second = t.rejects(topics.acquire('channel:room'), { message: 'broker down' })
  held.reject(new Error('broker down'))
  await Promise.all([first, second])
  await topics.acquire('channel:room')
  t.same(broker.subscribed, ['channel:room', 'channel:room'], 'the next acquire tries again')
})

t.test('a failure does not forget a newer subscription of the same topic', async (t) => {
  const broker = new FakeBroker()
  const topics = new TopicSubscriptions(broker, () => () => {})
  const held = broker.hold()
  const stale = t.rejects(topics.acquire('channel:room'), { message: 'broker down' })
  // The only member leaves before the broker answered, and a new one joins.
  const released = t.rejects(topics.release('channel:room'), { message: 'broker down' })
  await topics.acquire('channel:room')
  held.reject(new Error('broker down'))
  await Promise.all([stale, released])
  await topics.acquire('channel:room')
  t.same(broker.subscribed, ['channel:room', 'channel:room'], 'the newer one is still active')
  await topics.release('channel:room')
  t.same(broker.unsubscribed, [], 'it still counts its two members')
  await topics.release('channel:room')
  t.same(broker.unsubscribed, ['channel:room'])
})

t.test('releaseAll ends every subscription, even when one fails', async (t) => {
  const broker = new FakeBroker()
  const topics = new TopicSubscriptions(broker, () => () => {})
  await topics.acquire('all')
  await topics.acquire('control')
  await topics.acquire('control')
  broker.failUnsubscribe = true
  await topics.releaseAll()
  t.same(broker.unsubscribed.sort(), ['all', 'control'])
  await topics.release('control')
  t.equal(broker.unsubscribed.length, 2, 'nothing is left to release')
})
