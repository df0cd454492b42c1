import t from 'tap'
import { MAX_POSITIONS } from '@ws-warden/protocol'
import { StreamPositions } from '../src/positions.js'

t.test('keeps the highest seq per stream', async (t) => {
  const positions = new StreamPositions()
  positions.record('all', 3)
  positions.record('all', 2)
  positions.record('channel:a', 1)
  positions.record('all', 5)
  t.same(positions.toJSON(), { all: 5, 'channel:a': 1 })
  t.equal(positions.size, 2)
  positions.clear()
  t.same(positions.toJSON(), {})
})

t.test('holds at most MAX_POSITIONS streams, forgetting the least recently heard', async (t) => {
  const positions = new StreamPositions()
  for (let i = 0; i < MAX_POSITIONS; i++) positions.record(`s${i}`, 1)
  positions.record('s0', 2) // heard again: now the most recent
  positions.record('new', 1)
  t.equal(positions.size, MAX_POSITIONS)
  const kept = positions.toJSON()
  t.equal(kept.s1, undefined, 's1 was the least recently heard')
  t.equal(kept.s0, 2)
  t.equal(kept.new, 1)
})
