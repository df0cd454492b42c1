import t from 'tap'
import { resolveSweep } from '../src/sweep.js'

t.test(
  'defaults: sessions stale after 3 heartbeat intervals, tokens 5 min, rate limits 7 days',
  async (t) => {
    t.same(resolveSweep({}, 25_000), {
      sessions: true,
      tokens: true,
      rateLimits: true,
      sessionStaleMs: 75_000,
      tokenAgeMs: 300_000,
      rateLimitAgeMs: 604_800_000,
    })
    t.same(resolveSweep({ sessions: false, tokenAgeMs: 0 }, 1_000), {
      sessions: false,
      tokens: true,
      rateLimits: true,
      sessionStaleMs: 3_000,
      tokenAgeMs: 0,
      rateLimitAgeMs: 604_800_000,
    })
  },
)

t.test('bad ages are refused with the option named', async (t) => {
  t.throws(() => resolveSweep({ tokenAgeMs: -1 }, 1_000), {
    name: 'TypeError',
    message: 'ws-warden: option sweep.tokenAgeMs must be a non-negative integer, got -1',
  })
  t.throws(() => resolveSweep({ sessionStaleMs: 1.5 }, 1_000, 'sweeper'), {
    message: /option sweeper\.sessionStaleMs/,
  })
  t.throws(() => resolveSweep({ rateLimitAgeMs: '7d' as unknown as number }, 1_000), {
    message: /rateLimitAgeMs must be a non-negative integer, got 7d/,
  })
})
