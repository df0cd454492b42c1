import t from 'tap'
import { backoffDelay } from '../src/index.js'

const options = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  immediateJitterMs: 1_000,
  stableAfterMs: 5_000,
}
const almostOne = () => 1 - Number.EPSILON

t.test('the bound doubles with each failure and stops at maxDelayMs', async (t) => {
  const bounds = Array.from({ length: 10 }, (_, failures) =>
    backoffDelay(options, 'backoff', failures, almostOne),
  )
  t.same(bounds, [499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999, 29999])
})

t.test('full jitter: every delay is in [0, bound), and the whole range is used', async (t) => {
  for (const failures of [0, 3, 12]) {
    const bound = Math.min(30_000, 500 * 2 ** failures)
    const delays = Array.from({ length: 2_000 }, () =>
      backoffDelay(options, 'backoff', failures, Math.random),
    )
    t.ok(
      delays.every((delay) => delay >= 0 && delay < bound && Number.isInteger(delay)),
      `within [0, ${bound})`,
    )
    t.ok(Math.min(...delays) < bound / 4, 'some short delays')
    t.ok(Math.max(...delays) > (bound * 3) / 4, 'some long delays')
  }
  t.equal(
    backoffDelay(options, 'backoff', 0, () => 0),
    0,
  )
})

t.test(
  '"now" after a stable connection waits below immediateJitterMs; after failures it backs off',
  async (t) => {
    t.equal(backoffDelay(options, 'now', 0, almostOne), 999)
    t.equal(
      backoffDelay(options, 'now', 0, () => 0.25),
      250,
    )
    t.equal(backoffDelay(options, 'now', 3, almostOne), 3999)
    t.equal(backoffDelay({ ...options, immediateJitterMs: 0 }, 'now', 0, almostOne), 0)
  },
)
