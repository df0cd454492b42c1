import t, { type Test } from 'tap'
import type { SessionRecord } from '@ws-warden/core/stores'
import { RedisRateLimitStore, RedisSessionStore, RedisTokenStore } from '../src/index.js'
import { deleteKeys, randomPrefix, sharedRedis } from './helpers/redis.js'

// `countSweepable` (the CLI's `cleanup --dry-run`) answers what `sweep` would remove, with the
// same bounds, and removes nothing.

const redis = await sharedRedis(t)

if (redis !== undefined) {
  const client = redis
  const fresh = (t: Test): string => {
    const prefix = randomPrefix()
    t.teardown(async () => void (await deleteKeys(client, prefix)))
    return prefix
  }
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
  const record = (id: string, lastSeenAt: number): SessionRecord => ({
    id,
    userId: `user-${id}`,
    instanceId: 'instance',
    ip: '203.0.113.1',
    channels: ['lobby'],
    connectedAt: 1,
    lastSeenAt,
  })

  t.test('sessions: counts the records not seen since staleBefore', async (t) => {
    const sessions = new RedisSessionStore({ client, prefix: fresh(t) })
    for (const [id, seen] of [
      ['a', 100],
      ['b', 200],
      ['c', 300],
    ] as const) {
      await sessions.add(record(id, seen))
    }
    t.equal(await sessions.countSweepable(100), 0, 'staleBefore is exclusive')
    t.equal(await sessions.countSweepable(300), 2)
    t.equal(await sessions.countSweepable(300), 2, 'nothing was removed')
    t.equal(await sessions.count(), 3)
    t.equal(await sessions.sweep(300), 2, 'the sweep removes as many')
    t.equal(await sessions.countSweepable(300), 0)
  })

  t.test('tokens: counts expired ids with the bounds of sweep', async (t) => {
    const tokens = new RedisTokenStore({ client, prefix: fresh(t) })
    const start = Date.now()
    await tokens.consume('short', start + 50)
    await tokens.consume('long', start + 60_000)
    t.equal(await tokens.countSweepable(start + 120_000), 0, 'nothing has expired yet')
    await sleep(100)
    t.equal(await tokens.countSweepable(start + 50), 0, 'before is exclusive')
    t.equal(await tokens.countSweepable(start + 51), 1, 'a past before')
    t.equal(await tokens.countSweepable(start + 120_000), 1, 'a future before: never a live id')
    t.equal(await tokens.sweep(start + 120_000), 1, 'the sweep removes as many')
    t.equal(await tokens.countSweepable(start + 120_000), 0)
  })

  t.test('rate limits: counts ended windows with the bounds of sweep', async (t) => {
    const rateLimits = new RedisRateLimitStore({ client, prefix: fresh(t) })
    await rateLimits.hit('short', 5, 50)
    await rateLimits.hit('long', 5, 60_000)
    const after = Date.now() + 1000
    t.equal(await rateLimits.countSweepable(after), 0, 'every window is open')
    await sleep(100)
    t.equal(await rateLimits.countSweepable(after), 1)
    t.equal(await rateLimits.countSweepable(after), 1, 'nothing was removed')
    t.equal(await rateLimits.sweep(after), 1, 'the sweep removes as many')
    t.equal(
      (await rateLimits.hit('long', 5, 60_000)).remaining,
      3,
      'the open window kept its count',
    )
  })
}
