import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { RedisRateLimitStore, RedisSessionStore, RedisTokenStore } from '@ws-warden/redis'
import type { CleanupReport, StatsReport } from '../src/index.js'
import { run } from './helpers/run.js'
import {
  REDIS_URL,
  blackHole,
  closedPort,
  randomName,
  reachable,
  sleep,
  withPort,
} from './helpers/services.js'

const MINUTE = 60_000

const client = new Redis(REDIS_URL, {
  lazyConnect: true,
  maxRetriesPerRequest: 0,
  connectTimeout: 2000,
})
client.on('error', () => {})
t.teardown(() => void client.disconnect())

if (await reachable(t, `Redis at ${REDIS_URL}`, () => client.connect())) {
  /** A prefix of this test's own, its keys deleted afterwards; and the stores over it. */
  const fresh = (t: Test) => {
    const prefix = randomName('wsw_cli_')
    t.teardown(async () => {
      const keys = await client.keys(`*${prefix}*`)
      if (keys.length > 0) await client.del(...keys)
    })
    return {
      prefix,
      sessions: new RedisSessionStore({ client, prefix }),
      tokens: new RedisTokenStore({ client, prefix }),
      rateLimits: new RedisRateLimitStore({ client, prefix }),
    }
  }

  /**
   * 3 stale sessions (for the default 75s) next to a recent and a live one; 2 token ids and 1
   * window that ended by now, next to live ones (Redis keeps time itself, so tokens and windows
   * are made short-lived and cleaned with an age of 0).
   */
  const seed = async (stores: ReturnType<typeof fresh>) => {
    const now = Date.now()
    const record = (id: string, lastSeenAt: number, channels: string[] = []) =>
      stores.sessions.add({
        id,
        userId: `u-${id}`,
        instanceId: 'i',
        ip: '10.0.0.1',
        channels,
        connectedAt: 1,
        lastSeenAt,
      })
    for (const id of ['stale-1', 'stale-2', 'stale-3'])
      await record(id, now - 10 * MINUTE, ['lobby'])
    await record('recent', now - MINUTE, ['lobby'])
    await record('live', now, ['lobby', 'staff'])
    await stores.tokens.consume('stale-a', now + 100)
    await stores.tokens.consume('stale-b', now + 100)
    await stores.tokens.consume('live', now + 10 * MINUTE)
    await stores.rateLimits.hit('stale', 20, 100)
    await stores.rateLimits.hit('open', 20, 10 * MINUTE)
    await sleep(300)
  }

  const url = (prefix: string) => ['--store', REDIS_URL, '--prefix', prefix]
  const ages = ['--token-age', '0', '--rate-limit-age', '0s']

  t.test('cleanup removes exactly the stale records; --dry-run counts the same', async (t) => {
    const stores = fresh(t)
    await seed(stores)
    const dry = await run(['cleanup', '--dry-run', '--json', ...url(stores.prefix), ...ages])
    t.equal(dry.code, 0, dry.stderr)
    t.match(dry.json<CleanupReport>(), {
      store: REDIS_URL,
      dryRun: true,
      sessions: 3,
      tokens: 2,
      rateLimits: 1,
      agesMs: { sessions: 75_000, tokens: 0, rateLimits: 0 },
    })
    const dryAgain = await run(['cleanup', '--dry-run', '--json', ...url(stores.prefix), ...ages])
    t.match(
      dryAgain.json(),
      { sessions: 3, tokens: 2, rateLimits: 1 },
      'the dry run removed nothing',
    )
    t.equal(await stores.sessions.count(), 5)

    const real = await run(['cleanup', ...url(stores.prefix), ...ages])
    t.equal(real.code, 0, real.stderr)
    t.match(
      real.stdout,
      /^sessions {5}3 {2}not seen for 75s\ntokens {7}2 {2}expired over 0ms ago\nrate-limits {2}1 {2}ended over 0ms ago\nremoved 6 records from redis:\/\/127\.0\.0\.1:6379 in \d+ ms\n$/,
    )
    t.same((await stores.sessions.stats()).channels, { lobby: 2, staff: 1 }, 'recent and live stay')
    t.equal(await stores.tokens.consume('live', Date.now() + MINUTE), false, 'the live id stays')
    t.equal(
      (await stores.rateLimits.hit('open', 20, MINUTE)).remaining,
      18,
      'the open window stays',
    )
    const after = await run(['cleanup', '--dry-run', '--json', ...url(stores.prefix), ...ages])
    t.match(after.json(), { sessions: 0, tokens: 0, rateLimits: 0 })
  })

  t.test('kind flags and the default prefix', async (t) => {
    const stores = fresh(t)
    await seed(stores)
    const tokensOnly = await run([
      'cleanup',
      '--tokens',
      '--json',
      ...url(stores.prefix),
      '--token-age',
      '0',
    ])
    t.match(tokensOnly.json(), { sessions: null, tokens: 2, rateLimits: null })
    t.equal(await stores.sessions.count(), 5)
    // The default prefix is the store's own (ws_warden): a dry run there touches nothing of ours.
    const defaults = await run(['cleanup', '--dry-run', '--json', '--store', REDIS_URL])
    t.equal(defaults.code, 0)
    t.match(defaults.json(), { sessions: Number, tokens: Number, rateLimits: Number })
  })

  t.test('stats: the cluster counts from Redis', async (t) => {
    const stores = fresh(t)
    await seed(stores)
    const { code, stdout } = await run(['stats', '--json', ...url(stores.prefix)])
    t.equal(code, 0)
    t.same(
      stdout,
      `${JSON.stringify({ store: REDIS_URL, connections: 5, users: 5, channels: { lobby: 5, staff: 1 } } satisfies StatsReport)}\n`,
    )
    const text = await run(['stats', ...url(stores.prefix)])
    t.equal(
      text.stdout,
      `${REDIS_URL}\nconnections  5\nusers        5\nchannels     2\n  lobby      5\n  staff      1\n`,
    )
  })

  t.test('a bad prefix is a usage error', async (t) => {
    const { code, stderr } = await run(['stats', '--store', REDIS_URL, '--prefix', 'a{b}'])
    t.equal(code, 2)
    t.equal(
      stderr,
      'ws-warden stats: bad store option: RedisSessionStore option prefix must be a non-empty string without {} (see ws-warden stats --help)\n',
    )
  })
}

t.test('unreachable Redis: exit code 3 within --timeout, password redacted', async (t) => {
  const refused = withPort(REDIS_URL, await closedPort(), 'hunter2')
  for (const command of ['cleanup', 'stats']) {
    const { code, stdout, stderr } = await run([command, '--store', refused, '--timeout', '300ms'])
    t.equal(code, 3, command)
    t.equal(stdout, '')
    t.match(
      stderr,
      new RegExp(
        `^ws-warden ${command}: cannot reach redis://user:\\*\\*\\*@127\\.0\\.0\\.1:\\d+: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\n$`,
      ),
    )
    t.notMatch(stderr, /hunter2/)
  }
  const silent = withPort(REDIS_URL, await blackHole(t))
  const hole = await run(['stats', '--store', silent, '--timeout', '300ms'])
  t.equal(hole.code, 3)
  t.match(
    hole.stderr,
    /^ws-warden stats: cannot reach redis:\/\/127\.0\.0\.1:\d+: no answer within 300ms\n$/,
  )
})
