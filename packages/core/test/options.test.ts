import t from 'tap'
import type { WardenOptions } from '../src/options.js'
import { resolveOptions } from '../src/options.js'

const tokens = { secret: 'a-test-secret-that-is-at-least-32-bytes-long' }

/** Resolves options as a caller without types could pass them. */
function resolve(options: Record<string, unknown> = {}, randomId = () => 'random-id') {
  return resolveOptions({ tokens, ...options } as WardenOptions<unknown>, randomId)
}

t.test('defaults', async (t) => {
  t.same(resolve(), {
    instanceId: 'random-id',
    origins: undefined,
    permissions: [],
    limits: {
      connectAttemptsPerIp: 20,
      connectAttemptsPerUser: 20,
      connectWindowMs: 60_000,
      messagesPerSecond: 20,
      messageBurst: 20,
      maxMessageBytes: 65_536,
      connectionsPerUser: 10,
      connectionsPerIp: 100,
      maxConnections: 50_000,
      readPauseMs: 1_000,
    },
    heartbeat: { intervalMs: 25_000, timeoutMs: 10_000 },
    send: { maxBufferedBytes: 1_048_576, timeoutMs: 5_000 },
    shutdown: { timeoutMs: 30_000, drainMs: 2_000, closeCode: 1012 },
    storeTimeoutMs: 2_000,
    resumption: false,
    refresh: false,
    sweeper: {
      sessions: true,
      tokens: true,
      rateLimits: true,
      sessionStaleMs: 75_000,
      tokenAgeMs: 300_000,
      rateLimitAgeMs: 604_800_000,
      intervalMs: 300_000,
    },
  })
})

t.test('the sweeper: off, or its stale age follows the heartbeat', async (t) => {
  t.equal(resolve({ sweeper: false }).sweeper, false)
  const sweeper = resolve({
    heartbeat: { intervalMs: 1_000, timeoutMs: 500 },
    sweeper: { intervalMs: 10 },
  }).sweeper
  t.match(sweeper, { sessionStaleMs: 3_000, intervalMs: 10 })
  t.match(resolve({ heartbeat: false }).sweeper, { sessionStaleMs: 75_000 })
  t.throws(() => resolve({ sweeper: { intervalMs: 0 } }), {
    message: /sweeper\.intervalMs must be a positive integer/,
  })
})

t.test('given values are kept', async (t) => {
  const resolved = resolve({
    instanceId: 'node-1',
    origins: ['https://a.example', 'https://b.example'],
    permissions: ['chat.read'],
    limits: {
      connectAttemptsPerIp: 1,
      connectAttemptsPerUser: 2,
      connectWindowMs: 3,
      messagesPerSecond: 4,
      messageBurst: 5,
      maxMessageBytes: 6,
      connectionsPerUser: 7,
      connectionsPerIp: 8,
      maxConnections: 9,
      readPauseMs: 10,
    },
    heartbeat: { intervalMs: 11, timeoutMs: 10 },
    send: { maxBufferedBytes: 12, timeoutMs: 13 },
    shutdown: { timeoutMs: 14, drainMs: 15, closeCode: 1001 },
    storeTimeoutMs: 16,
  })
  t.equal(resolved.instanceId, 'node-1')
  const origins = resolved.origins as ReadonlySet<string>
  t.same([...origins], ['https://a.example', 'https://b.example'])
  t.ok(origins.has('https://b.example'))
  t.same(resolved.permissions, ['chat.read'])
  t.same(Object.values(resolved.limits), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  t.same(resolved.heartbeat, { intervalMs: 11, timeoutMs: 10 })
  t.same(resolved.send, { maxBufferedBytes: 12, timeoutMs: 13 })
  t.same(resolved.shutdown, { timeoutMs: 14, drainMs: 15, closeCode: 1001 })
  t.equal(resolved.storeTimeoutMs, 16)
})

t.test('messageBurst defaults to messagesPerSecond', async (t) => {
  t.equal(resolve({ limits: { messagesPerSecond: 7 } }).limits.messageBurst, 7)
  t.equal(resolve({ limits: { messagesPerSecond: 7, messageBurst: 3 } }).limits.messageBurst, 3)
})

t.test('readPauseMs defaults to a full refill of the bucket; 0 never pauses', async (t) => {
  t.equal(resolve({ limits: { messagesPerSecond: 4, messageBurst: 6 } }).limits.readPauseMs, 1_500)
  t.equal(resolve({ limits: { messagesPerSecond: 3 } }).limits.readPauseMs, 1_000)
  t.equal(resolve({ limits: { messagesPerSecond: 3, messageBurst: 1 } }).limits.readPauseMs, 334)
  t.equal(resolve({ limits: { readPauseMs: 0 } }).limits.readPauseMs, 0)
  t.throws(() => resolve({ limits: { readPauseMs: -1 } }), {
    message: 'ws-warden: option limits.readPauseMs must be a positive integer, got -1',
  })
})

t.test('a random instance id is drawn only when none is given', async (t) => {
  let drawn = 0
  const randomId = () => `id-${++drawn}`
  t.equal(resolve({}, randomId).instanceId, 'id-1')
  t.equal(resolve({ instanceId: 'mine' }, randomId).instanceId, 'mine')
  t.equal(drawn, 1)
})

t.test('options must be an object', async (t) => {
  for (const options of [null, undefined, 'tokens', 42]) {
    t.throws(
      () => resolveOptions(options as unknown as WardenOptions<unknown>, () => 'id'),
      new TypeError('ws-warden: options must be an object'),
      String(options),
    )
  }
})

/** Every integer option, as the path its error names and the options that set it. */
const integerOptions: [string, (value: unknown) => Record<string, unknown>][] = [
  ...[
    'connectAttemptsPerIp',
    'connectAttemptsPerUser',
    'connectWindowMs',
    'messagesPerSecond',
    'messageBurst',
    'maxMessageBytes',
    'connectionsPerUser',
    'connectionsPerIp',
    'maxConnections',
  ].map((name): [string, (value: unknown) => Record<string, unknown>] => [
    `limits.${name}`,
    (value) => ({ limits: { [name]: value } }),
  ]),
  ['heartbeat.intervalMs', (value) => ({ heartbeat: { intervalMs: value, timeoutMs: 1 } })],
  ['heartbeat.timeoutMs', (value) => ({ heartbeat: { timeoutMs: value } })],
  ['send.maxBufferedBytes', (value) => ({ send: { maxBufferedBytes: value } })],
  ['send.timeoutMs', (value) => ({ send: { timeoutMs: value } })],
  ['shutdown.timeoutMs', (value) => ({ shutdown: { timeoutMs: value } })],
  ['shutdown.drainMs', (value) => ({ shutdown: { drainMs: value } })],
  ['storeTimeoutMs', (value) => ({ storeTimeoutMs: value })],
]

t.test('every integer option is validated and its error names it', async (t) => {
  for (const [name, set] of integerOptions) {
    for (const value of [-1, 1.5, '10', Number.NaN, Infinity, null]) {
      t.throws(
        () => resolve(set(value)),
        new TypeError(`ws-warden: option ${name} must be a positive integer, got ${String(value)}`),
        `${name} = ${String(value)}`,
      )
    }
    if (name === 'shutdown.drainMs') {
      t.equal(resolve(set(0)).shutdown.drainMs, 0, 'drainMs 0 closes everyone at once')
    } else {
      t.throws(() => resolve(set(0)), { message: `option ${name} must be a positive integer` })
    }
  }
})

t.test('heartbeat: false turns it off; the timeout may not exceed the interval', async (t) => {
  t.equal(resolve({ heartbeat: false }).heartbeat, false)
  t.same(resolve({ heartbeat: { intervalMs: 50, timeoutMs: 50 } }).heartbeat, {
    intervalMs: 50,
    timeoutMs: 50,
  })
  t.same(resolve({ heartbeat: { intervalMs: 10_000 } }).heartbeat, {
    intervalMs: 10_000,
    timeoutMs: 10_000,
  })
  const tooLong = new TypeError(
    'ws-warden: option heartbeat.timeoutMs must not exceed heartbeat.intervalMs',
  )
  t.throws(() => resolve({ heartbeat: { intervalMs: 50, timeoutMs: 51 } }), tooLong)
  t.throws(() => resolve({ heartbeat: { intervalMs: 5_000 } }), tooLong, 'against the default')
})

t.test('shutdown.closeCode: 1012, 1001 or a private code', async (t) => {
  for (const code of [1012, 1001, 4000, 4200, 4999]) {
    t.equal(resolve({ shutdown: { closeCode: code } }).shutdown.closeCode, code)
  }
  for (const code of [1000, 1011, 1013, 3999, 5000]) {
    t.throws(
      () => resolve({ shutdown: { closeCode: code } }),
      new TypeError('ws-warden: option shutdown.closeCode must be 1012, 1001 or 4000-4999'),
      String(code),
    )
  }
})

t.test('instanceId must be a non-empty string', async (t) => {
  const error = new TypeError('ws-warden: option instanceId must be a non-empty string')
  t.throws(() => resolve({ instanceId: '' }), error)
  t.throws(() => resolve({ instanceId: 7 }), error)
  t.throws(() => resolve({}, () => ''), error, 'the random id is checked too')
})

t.test('origins and permissions must be arrays of non-empty strings', async (t) => {
  for (const name of ['origins', 'permissions']) {
    for (const value of ['https://a.example', [''], ['ok', 3], {}]) {
      t.throws(
        () => resolve({ [name]: value }),
        new TypeError(`ws-warden: option ${name} must be an array of non-empty strings`),
        `${name} = ${JSON.stringify(value)}`,
      )
    }
  }
  t.same(resolve({ origins: [] }).origins, new Set(), 'an empty allow-list allows no Origin')
})
