import t from 'tap'
import {
  MemoryRateLimitStore,
  MemorySessionStore,
  MemoryTokenStore,
  type SessionRecord,
  type SessionStore,
} from '@ws-warden/core/stores'
import type { CleanupReport, StatsReport } from '../src/index.js'
import { run } from './helpers/run.js'

const MINUTE = 60_000
const DAY = 86_400_000

/** A clock that can be moved back to seed old records, then returns to real time. */
function shiftableClock() {
  let offset = 0
  return { now: () => Date.now() + offset, at: (ms: number) => void (offset = ms) }
}

function session(id: string, lastSeenAt: number, channels: string[] = []): SessionRecord {
  return {
    id,
    userId: `u-${id}`,
    instanceId: 'i',
    ip: '10.0.0.1',
    channels,
    connectedAt: 1,
    lastSeenAt,
  }
}

/**
 * Memory stores with, for the default ages (sessions 75s, tokens 300s, rate limits 7d), exactly
 * 3 stale sessions, 2 stale token ids and 1 stale window, next to fresh records of every kind
 * (some already expired, but not long enough).
 */
async function seeded() {
  const clock = shiftableClock()
  const sessions = new MemorySessionStore()
  const tokens = new MemoryTokenStore({ clock })
  const rateLimits = new MemoryRateLimitStore({ clock })
  const now = Date.now()
  for (const id of ['stale-1', 'stale-2', 'stale-3'])
    await sessions.add(session(id, now - 10 * MINUTE))
  await sessions.add(session('recent', now - MINUTE))
  await sessions.add(session('live', now))

  clock.at(-60 * MINUTE) // an hour ago: tokens that expired 59 minutes ago
  await tokens.consume('stale-a', clock.now() + MINUTE)
  await tokens.consume('stale-b', clock.now() + MINUTE)
  clock.at(-2 * MINUTE) // expired a minute ago: younger than --token-age
  await tokens.consume('recent', clock.now() + MINUTE)
  clock.at(0)
  await tokens.consume('live', clock.now() + MINUTE)

  clock.at(-8 * DAY) // a window that ended 8 days ago
  await rateLimits.hit('stale', 20, MINUTE)
  clock.at(-DAY) // ended a day ago: younger than --rate-limit-age
  await rateLimits.hit('recent', 20, MINUTE)
  clock.at(0)
  await rateLimits.hit('open', 20, MINUTE)
  return { sessions, tokens, rateLimits }
}

t.test('cleanup removes exactly the stale records, with their counts', async (t) => {
  const stores = await seeded()
  const { code, stdout, stderr } = await run(['cleanup', '--store', 'memory:'], {
    memoryStores: stores,
  })
  t.equal(code, 0)
  t.equal(stderr, '')
  t.match(
    stdout,
    /^sessions {5}3 {2}not seen for 75s\ntokens {7}2 {2}expired over 5m ago\nrate-limits {2}1 {2}ended over 7d ago\nremoved 6 records from memory: in \d+ ms\n$/,
  )
  t.equal(await stores.sessions.count(), 2, 'recent and live stay')
  t.same((await stores.sessions.listByUser('u-recent')).length, 1)
  t.equal(await stores.tokens.countSweepable(Date.now()), 1, 'the recently expired id stays')
  t.equal(await stores.tokens.consume('live', Date.now() + MINUTE), false, 'the live id stays')
  t.equal(await stores.rateLimits.countSweepable(Date.now()), 1, 'the recently ended window stays')
  t.equal((await stores.rateLimits.hit('open', 20, MINUTE)).remaining, 18, 'the open window stays')
  const again = await run(['cleanup', '--store', 'memory:', '--json'], { memoryStores: stores })
  t.match(again.json(), { sessions: 0, tokens: 0, rateLimits: 0 }, 'nothing stale is left')
})

t.test('--dry-run reports the same counts and removes nothing', async (t) => {
  const stores = await seeded()
  const argv = ['cleanup', '--dry-run', '--store', 'memory:']
  for (let i = 0; i < 2; i += 1) {
    const { code, stdout } = await run(argv, { memoryStores: stores })
    t.equal(code, 0)
    t.match(stdout, /^sessions {5}3 .*\ntokens {7}2 .*\nrate-limits {2}1 .*\n/)
    t.match(stdout, /dry run: would remove 6 records from memory:; nothing was removed\n$/)
  }
  t.equal(await stores.sessions.count(), 5, 'every session is still there')
  const dry = await run([...argv, '--json'], { memoryStores: stores })
  const real = await run(['cleanup', '--json', '--store', 'memory:'], { memoryStores: stores })
  const counts = (report: CleanupReport) => [report.sessions, report.tokens, report.rateLimits]
  t.same(counts(dry.json<CleanupReport>()), [3, 2, 1])
  t.same(counts(real.json<CleanupReport>()), [3, 2, 1], 'the real cleanup removes as many')
})

t.test('--json: one object on one line', async (t) => {
  const stores = await seeded()
  const argv = ['cleanup', '--json', '--dry-run', '--store', 'memory:', '--token-age', '1h']
  const { code, stdout } = await run(argv, { memoryStores: stores })
  t.equal(code, 0)
  t.equal(stdout.split('\n').length, 2, 'one line')
  const report = JSON.parse(stdout) as CleanupReport
  t.same(Object.keys(report), [
    'store',
    'dryRun',
    'sessions',
    'tokens',
    'rateLimits',
    'agesMs',
    'durationMs',
  ])
  t.match(report, {
    store: 'memory:',
    dryRun: true,
    sessions: 3,
    tokens: 0,
    rateLimits: 1,
    agesMs: { sessions: 75_000, tokens: 3_600_000, rateLimits: 7 * DAY },
    durationMs: Number,
  })
})

t.test('kind flags choose what is cleaned; ages take units', async (t) => {
  const stores = await seeded()
  const argv = ['cleanup', '--json', '--store', 'memory:', '--sessions', '--session-age', '30s']
  const sessionsOnly = (await run(argv, { memoryStores: stores })).json<CleanupReport>()
  t.match(sessionsOnly, {
    sessions: 4,
    tokens: null,
    rateLimits: null,
    agesMs: { sessions: 30_000, tokens: null, rateLimits: null },
  })
  const both = await run(
    [
      'cleanup',
      '--tokens',
      '--rate-limits',
      '--token-age',
      '30',
      '--rate-limit-age',
      '12h',
      '--store',
      'memory:',
    ],
    { memoryStores: stores },
  )
  t.equal(both.code, 0)
  t.match(
    both.stdout,
    /^tokens {7}3 {2}expired over 30s ago\nrate-limits {2}2 {2}ended over 12h ago\nremoved 5 records/,
  )
  t.equal(await stores.sessions.count(), 1, 'the live session')
})

t.test('memory: without stores given is an empty store of this process', async (t) => {
  const { code, stdout } = await run(['cleanup', '--json', '--store', 'memory:'])
  t.equal(code, 0)
  t.match(JSON.parse(stdout), { sessions: 0, tokens: 0, rateLimits: 0, dryRun: false })
})

t.test('a store without countSweepable cannot dry-run, and nothing is removed', async (t) => {
  const stores = await seeded()
  const inner = stores.sessions
  const sessions: SessionStore = Object.assign(Object.create(inner) as SessionStore, {
    countSweepable: undefined,
    sweep: (before: number) => inner.sweep(before),
  })
  const memoryStores = { ...stores, sessions }
  const { code, stdout, stderr } = await run(['cleanup', '--dry-run', '--store', 'memory:'], {
    memoryStores,
  })
  t.equal(code, 1)
  t.equal(stdout, '')
  t.equal(
    stderr,
    "ws-warden cleanup: --dry-run is not supported by this store's sessions (no countSweepable); nothing was removed\n",
  )
  t.equal(await stores.sessions.count(), 5)
  t.equal(
    await stores.tokens.countSweepable(Date.now() - 5 * MINUTE),
    2,
    'no token was swept either',
  )
  const real = await run(['cleanup', '--json', '--store', 'memory:'], { memoryStores })
  t.match(real.json(), { sessions: 3 }, 'a real cleanup still works')
})

t.test('a store that fails mid-cleanup: exit code 1, the kind and the reason', async (t) => {
  const stores = await seeded()
  const tokens = new MemoryTokenStore()
  tokens.sweep = async () => {
    throw new Error('ws-warden: disk on fire')
  }
  const { code, stdout, stderr } = await run(['cleanup', '--store', 'memory:'], {
    memoryStores: { ...stores, tokens },
  })
  t.equal(code, 1)
  t.equal(stdout, '')
  t.equal(stderr, 'ws-warden cleanup: tokens failed: disk on fire\n')
  const rateLimits = new MemoryRateLimitStore()
  rateLimits.sweep = async () => {
    throw Object.assign(new Error('relation "x" does not exist'), { code: '42P01' })
  }
  const missing = await run(['cleanup', '--rate-limits', '--store', 'memory:'], {
    memoryStores: { rateLimits },
  })
  t.equal(missing.code, 1)
  t.equal(
    missing.stderr,
    'ws-warden cleanup: rate-limits failed: relation "x" does not exist (are the tables there? run `ws-warden migrate` with the same --store, --prefix and --schema)\n',
  )
})

t.test('stats: connections, users and connections per channel', async (t) => {
  const sessions = new MemorySessionStore()
  const now = Date.now()
  await sessions.add({ ...session('a', now, ['lobby', 'staff']), userId: 'ann' })
  await sessions.add({ ...session('b', now, ['lobby']), userId: 'ann' })
  await sessions.add({
    ...session('c', now, ['lobby', 'with space', '__proto__', 'zeta']),
    userId: 'bob',
  })
  const text = await run(['stats', '--store', 'memory:'], { memoryStores: { sessions } })
  t.equal(text.code, 0)
  t.equal(
    text.stdout,
    [
      'memory:',
      'connections     3',
      'users           2',
      'channels        5',
      '  lobby         3',
      '  __proto__     1',
      '  staff         1',
      '  "with space"  1',
      '  zeta          1',
      '',
    ].join('\n'),
  )
  const json = await run(['stats', '--json', '--store', 'memory:'], { memoryStores: { sessions } })
  const report = json.json<StatsReport>()
  t.same(Object.keys(report), ['store', 'connections', 'users', 'channels'])
  t.same(report, {
    store: 'memory:',
    connections: 3,
    users: 2,
    channels: { lobby: 3, staff: 1, 'with space': 1, ['__proto__']: 1, zeta: 1 },
  })
  t.ok(Object.hasOwn(report.channels, '__proto__'), 'a channel named __proto__ is data')
})

t.test('stats: a store that fails is exit code 1', async (t) => {
  const sessions = new MemorySessionStore()
  sessions.stats = async () => {
    throw new Error('connection reset')
  }
  const { code, stderr } = await run(['stats', '--store', 'memory:'], {
    memoryStores: { sessions },
  })
  t.equal(code, 1)
  t.equal(stderr, 'ws-warden stats: reading stats failed: connection reset\n')
})

t.test('an unexpected error is exit code 1, one line', async (t) => {
  const sessions = new MemorySessionStore()
  const { code, stderr } = await run(['stats', '--store', 'memory:'], {
    memoryStores: {
      get sessions(): SessionStore {
        throw new RangeError('ws-warden: odd\nsecond line')
      },
    },
  })
  t.equal(code, 1)
  t.equal(stderr, 'ws-warden stats: odd\n')
  t.ok(sessions)
})
