import t from 'tap'
import { SendQueue } from '../src/queue.js'

t.test('a FIFO up to its bound', async (t) => {
  const queue = new SendQueue(3, 'drop-oldest')
  for (const item of ['a', 'b', 'c']) t.same(queue.push(item), { queued: true })
  t.equal(queue.size, 3)
  t.equal(queue.full, true)
  t.same(queue.drain(), ['a', 'b', 'c'])
  t.equal(queue.size, 0)
  t.same(queue.drain(), [])
})

t.test('drop-oldest keeps the newest messages', async (t) => {
  const queue = new SendQueue(2, 'drop-oldest')
  queue.push('a')
  queue.push('b')
  t.same(queue.push('c'), { queued: true, dropped: 'a' })
  t.same(queue.push('d'), { queued: true, dropped: 'b' })
  t.same(queue.drain(), ['c', 'd'])
})

t.test('drop-newest and throw keep the oldest (the caller throws for "throw")', async (t) => {
  for (const overflow of ['drop-newest', 'throw'] as const) {
    const queue = new SendQueue(2, overflow)
    queue.push('a')
    queue.push('b')
    t.same(queue.push('c'), { queued: false, dropped: 'c' })
    t.same(queue.drain(), ['a', 'b'])
  }
})

t.test('a queue of size 0 queues nothing, whatever the policy', async (t) => {
  for (const overflow of ['drop-oldest', 'drop-newest', 'throw'] as const) {
    const queue = new SendQueue(0, overflow)
    t.same(queue.push('a'), { queued: false, dropped: 'a' })
    t.equal(queue.size, 0)
  }
  const queue = new SendQueue(2, 'drop-oldest')
  queue.push('a')
  queue.clear()
  t.equal(queue.size, 0)
})
