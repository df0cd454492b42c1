import t from 'tap'
import { silentLogger } from '../src/logger.js'

t.test('a child of the silent logger is the silent logger itself', async (t) => {
  t.equal(silentLogger.child({ connectionId: 'c1' }), silentLogger)
})
