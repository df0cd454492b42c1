import t from 'tap'
import { ConfigError, parseConfig } from '../src/config.js'
import { start } from '../src/start.js'

t.test('defaults follow the contract', async (t) => {
  const config = parseConfig({})
  t.match(config, {
    host: '127.0.0.1',
    port: 3000,
    adapter: 'fastify',
    store: 'memory',
    redisUrl: 'redis://127.0.0.1:6379',
    redisUrlSet: false,
    redisClusterNodes: undefined,
    databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
    prefix: 'ws_warden',
    tokenSecretGenerated: true,
    allowedOrigins: undefined,
    connectLimit: 20,
    messageRate: 20,
    maxMessageBytes: 65_536,
    maxConnectionsPerUser: 5,
    maxConnectionsPerIp: 100,
    heartbeatIntervalMs: 25_000,
    heartbeatTimeoutMs: 10_000,
    tokenTtlS: 60,
    clockToleranceS: 5,
    sweepIntervalMs: 300_000,
  })
  t.ok(Buffer.byteLength(config.tokenSecret) >= 32, 'the random secret is long enough')
  t.not(parseConfig({}).tokenSecret, config.tokenSecret, 'and random per start')
  t.equal(parseConfig({ WARDEN_STORE: 'mysql' }).databaseUrl, 'mysql://root@127.0.0.1:3306/test')
})

t.test('values are read', async (t) => {
  const config = parseConfig({
    PORT: '0',
    HOST: '0.0.0.0',
    WARDEN_TOKEN_SECRET: 's'.repeat(32),
    WARDEN_ALLOWED_ORIGINS: 'https://a.example,http://localhost:8080',
    WARDEN_PREFIX: 'chat_1',
    WARDEN_CONNECT_LIMIT: '5',
    DATABASE_URL: 'mysql://root@db:3306/chat',
    REDIS_URL: 'redis://cache:6379/2',
    REDIS_CLUSTER_NODES: 'redis-a:7000,10.0.0.2:7001,[::1]:7002',
    WARDEN_CLOCK_TOLERANCE_S: '0',
  })
  t.match(config, {
    port: 0,
    host: '0.0.0.0',
    tokenSecret: 's'.repeat(32),
    tokenSecretGenerated: false,
    allowedOrigins: ['https://a.example', 'http://localhost:8080'],
    prefix: 'chat_1',
    connectLimit: 5,
    databaseUrl: 'mysql://root@db:3306/chat',
    redisUrl: 'redis://cache:6379/2',
    redisUrlSet: true,
    redisClusterNodes: [
      { host: 'redis-a', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: '::1', port: 7002 },
    ],
    clockToleranceS: 0,
  })
  const sql = { WARDEN_STORE: 'postgres', WARDEN_PREFIX: 'p'.repeat(29) }
  t.equal(parseConfig(sql).prefix, 'p'.repeat(29), 'SQL prefixes up to 29 (tables: <prefix>_…)')
  t.equal(parseConfig({ WARDEN_STORE: 'redis', WARDEN_PREFIX: 'p'.repeat(40) }).prefix.length, 40)
})

t.test('a bad value is a one-line error naming the variable', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ WARDEN_ADAPTER: 'hapi' }, 'WARDEN_ADAPTER'],
    [{ WARDEN_STORE: 'mongo' }, 'WARDEN_STORE'],
    [{ WARDEN_TOKEN_SECRET: 'short' }, 'WARDEN_TOKEN_SECRET'],
    [{ WARDEN_CONNECT_LIMIT: '0' }, 'WARDEN_CONNECT_LIMIT'],
    [{ WARDEN_MESSAGE_RATE: '1.5' }, 'WARDEN_MESSAGE_RATE'],
    [{ WARDEN_MAX_MESSAGE_BYTES: '-1' }, 'WARDEN_MAX_MESSAGE_BYTES'],
    [{ WARDEN_MAX_CONNECTIONS_PER_USER: 'many' }, 'WARDEN_MAX_CONNECTIONS_PER_USER'],
    [{ WARDEN_MAX_CONNECTIONS_PER_IP: '0' }, 'WARDEN_MAX_CONNECTIONS_PER_IP'],
    [{ WARDEN_HEARTBEAT_INTERVAL_MS: '1e3' }, 'WARDEN_HEARTBEAT_INTERVAL_MS'],
    [{ WARDEN_HEARTBEAT_TIMEOUT_MS: '30000' }, 'WARDEN_HEARTBEAT_TIMEOUT_MS'],
    [{ WARDEN_TOKEN_TTL_S: '7200' }, 'WARDEN_TOKEN_TTL_S'],
    [{ WARDEN_SWEEP_INTERVAL_MS: 'soon' }, 'WARDEN_SWEEP_INTERVAL_MS'],
    [{ WARDEN_CLOCK_TOLERANCE_S: '-1' }, 'WARDEN_CLOCK_TOLERANCE_S'],
    [{ WARDEN_CLOCK_TOLERANCE_S: 'five' }, 'WARDEN_CLOCK_TOLERANCE_S'],
    [{ WARDEN_CLOCK_TOLERANCE_S: '0.5' }, 'WARDEN_CLOCK_TOLERANCE_S'],
    [{ WARDEN_ALLOWED_ORIGINS: 'https://a.example/path' }, 'WARDEN_ALLOWED_ORIGINS'],
    [{ WARDEN_ALLOWED_ORIGINS: 'not a url' }, 'WARDEN_ALLOWED_ORIGINS'],
    [{ WARDEN_ALLOWED_ORIGINS: 'ftp://a.example' }, 'WARDEN_ALLOWED_ORIGINS'],
    [{ WARDEN_PREFIX: 'drop table;' }, 'WARDEN_PREFIX'],
    [{ WARDEN_STORE: 'mysql', WARDEN_PREFIX: 'p'.repeat(30) }, 'WARDEN_PREFIX'],
    [{ REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL'],
    [{ REDIS_URL: '::' }, 'REDIS_URL'],
    [{ REDIS_CLUSTER_NODES: 'redis-a' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_CLUSTER_NODES: 'redis-a:7000,,redis-b:7000' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_CLUSTER_NODES: 'redis-a:99999' }, 'REDIS_CLUSTER_NODES'],
    [{ WARDEN_STORE: 'postgres', DATABASE_URL: 'mysql://root@db/x' }, 'DATABASE_URL'],
  ]
  for (const [env, variable] of cases) {
    t.throws(() => parseConfig(env), { name: 'ConfigError', variable }, JSON.stringify(env))
    try {
      parseConfig(env)
    } catch (error) {
      t.match((error as Error).message, new RegExp(`^${variable}: [^\\n]+$`))
    }
  }
})

t.test('a store that does not answer is one line naming its variable', async (t) => {
  const env = { WARDEN_TOKEN_SECRET: 's'.repeat(32), PORT: '0' }
  const cases = [
    ['fastify', { WARDEN_STORE: 'redis', REDIS_URL: 'redis://127.0.0.1:1' }, 'REDIS_URL', 'Redis'],
    [
      'fastify',
      { WARDEN_STORE: 'redis', REDIS_CLUSTER_NODES: '127.0.0.1:1' },
      'REDIS_CLUSTER_NODES',
      'Redis Cluster',
    ],
    [
      'express',
      { WARDEN_STORE: 'postgres', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' },
      'DATABASE_URL',
      'PostgreSQL',
    ],
    [
      'koa',
      { WARDEN_STORE: 'mysql', DATABASE_URL: 'mysql://root@127.0.0.1:1/test' },
      'DATABASE_URL',
      'MySQL',
    ],
  ] as const
  await Promise.all(
    cases.map(([adapter, store, variable, service]) =>
      t.rejects(
        start(parseConfig({ ...env, ...store, WARDEN_ADAPTER: adapter }), { logger: false }),
        {
          name: 'ConfigError',
          variable,
          message: new RegExp(
            `^${variable}: cannot reach ${service} at [^\\n]*127\\.0\\.0\\.1:1[^\\n]*$`,
          ),
        },
        `${service} on ${adapter}`,
      ),
    ),
  )
  t.ok(new ConfigError('X', 'y') instanceof Error)
})
