import t from 'tap'
import { newId } from '../src/ids.js'

t.test('newId: a version 4 UUID, a new one every call', async (t) => {
  const ids = Array.from({ length: 1000 }, () => newId())
  for (const id of ids.slice(0, 20)) {
    t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  }
  t.equal(new Set(ids).size, ids.length, 'no repeats')
})
