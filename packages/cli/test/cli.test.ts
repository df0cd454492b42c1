import { readFileSync } from 'node:fs'
import t from 'tap'
import { VERSION } from '../src/index.js'
import { run } from './helpers/run.js'

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

t.test('--help and help: the tool, then each command', async (t) => {
  for (const argv of [['--help'], ['-h'], ['help']]) {
    const { code, stdout, stderr } = await run(argv)
    t.equal(code, 0, argv.join(' '))
    t.match(stdout, /^Usage: ws-warden <command> \[options\]/)
    t.match(stdout, /cleanup +remove stale sessions/)
    t.match(
      stdout,
      /Exit codes: 0 done, 1 the command failed, 2 bad arguments, 3 store unreachable/,
    )
    t.equal(stderr, '')
  }
  for (const command of ['cleanup', 'migrate', 'stats']) {
    for (const argv of [
      [command, '--help'],
      [command, '-h'],
      ['help', command],
    ]) {
      const { code, stdout } = await run(argv)
      t.equal(code, 0, argv.join(' '))
      t.match(stdout, new RegExp(`^Usage: ws-warden ${command} --store`))
      t.match(stdout, /--timeout <duration>/)
    }
  }
  const withOthers = await run(['cleanup', '--bogus', '--help'])
  t.equal(withOthers.code, 0, '--help wins over other arguments')
  t.match(withOthers.stdout, /--rate-limit-age <age>/)
})

t.test('--version', async (t) => {
  t.equal(VERSION, version)
  for (const flag of ['--version', '-V']) {
    const { code, stdout, stderr } = await run([flag])
    t.same([code, stdout, stderr], [0, `${version}\n`, ''], flag)
  }
})

t.test('usage errors: one line on stderr, exit code 2', async (t) => {
  const cases: [string[], string][] = [
    [['frobnicate'], "ws-warden: unknown command 'frobnicate' (see ws-warden --help)"],
    [['--bogus'], 'ws-warden: unknown option --bogus (see ws-warden --help)'],
    [['help', 'nope'], "ws-warden: no help for 'nope': it is not a command (see ws-warden --help)"],
    [
      ['cleanup', '--store', 'memory:', '--bogus'],
      'ws-warden cleanup: unknown option --bogus for cleanup (see ws-warden cleanup --help)',
    ],
    [
      ['stats', 'memory:'],
      'ws-warden stats: unexpected argument memory: for stats (see ws-warden stats --help)',
    ],
    [
      ['stats'],
      'ws-warden stats: --store <url> is required (or set WS_WARDEN_STORE) (see ws-warden stats --help)',
    ],
    [
      ['stats', '--store', 'http://admin:hunter2@example.com'],
      "ws-warden stats: unsupported store URL scheme 'http:' in 'http://admin:***@example.com' (expected memory:, redis://, rediss://, postgres://, postgresql://, mysql:// or mariadb://) (see ws-warden stats --help)",
    ],
    [
      ['stats', '--store', 'redis//:hunter2@localhost'],
      "ws-warden stats: --store is not a valid URL: 'redis//:***@localhost' (expected memory:, redis://, rediss://, postgres://, postgresql://, mysql:// or mariadb://) (see ws-warden stats --help)",
    ],
    [
      ['cleanup', '--store', 'memory:', '--token-age', 'soon'],
      "ws-warden cleanup: --token-age must be a whole number of seconds or a duration like 300s, 5m, 12h or 7d, got 'soon' (see ws-warden cleanup --help)",
    ],
    [
      ['cleanup', '--store', 'memory:', '--tokens', '--session-age', '5m'],
      'ws-warden cleanup: --session-age is given but sessions are not cleaned (add --sessions) (see ws-warden cleanup --help)',
    ],
    [
      ['stats', '--store', 'memory:', '--timeout', '0'],
      'ws-warden stats: --timeout must be more than 0 (see ws-warden stats --help)',
    ],
    [
      ['stats', '--store', 'memory:', '--timeout', '5 seconds'],
      "ws-warden stats: --timeout must be a whole number of seconds or a duration like 300s, 5m, 12h or 7d, got '5 seconds' (see ws-warden stats --help)",
    ],
    [
      ['stats', '--store', 'redis://127.0.0.1:1', '--schema', 'app'],
      'ws-warden stats: --schema is for PostgreSQL only (see ws-warden stats --help)',
    ],
    [
      ['migrate', '--store', 'redis://:hunter2@127.0.0.1:6379'],
      'ws-warden migrate: migrate is for SQL stores (postgres://, mysql://, mariadb://); redis needs no migration (see ws-warden migrate --help)',
    ],
    [
      ['migrate', '--store', 'memory:'],
      'ws-warden migrate: migrate is for SQL stores (postgres://, mysql://, mariadb://); memory needs no migration (see ws-warden migrate --help)',
    ],
    [
      ['migrate', '--store', 'mysql://root@127.0.0.1:1/test', '--schema', 'app'],
      'ws-warden migrate: --schema is for PostgreSQL only (see ws-warden migrate --help)',
    ],
  ]
  for (const [argv, message] of cases) {
    const { code, stdout, stderr } = await run(argv)
    t.equal(code, 2, argv.join(' '))
    t.equal(stderr, `${message}\n`)
    t.equal(stdout, '')
    t.notMatch(stderr, /hunter2/, 'never the password')
  }
})

t.test('no command: the help on stderr, exit code 2', async (t) => {
  const { code, stdout, stderr } = await run([])
  t.equal(code, 2)
  t.equal(stdout, '')
  t.match(stderr, /^Usage: ws-warden <command>/)
})

t.test('--store defaults to WS_WARDEN_STORE', async (t) => {
  const { code, stdout } = await run(['stats', '--json'], { env: { WS_WARDEN_STORE: 'memory:' } })
  t.equal(code, 0)
  t.same(JSON.parse(stdout), { store: 'memory:', connections: 0, users: 0, channels: {} })
  const flag = await run(['stats', '--store', 'memory://', '--json'], {
    env: { WS_WARDEN_STORE: 'redis://127.0.0.1:1' },
  })
  t.equal(flag.json().store, 'memory://', 'the flag wins')
})

t.test('process streams and environment by default', async (t) => {
  const { runCli } = await import('../src/index.js')
  const writes: string[] = []
  const write = process.stdout.write
  process.stdout.write = ((chunk: string) => writes.push(chunk) > 0) as typeof write
  let code: number
  try {
    code = await runCli(['--version'])
  } finally {
    process.stdout.write = write
  }
  t.equal(code, 0)
  t.same(writes, [`${version}\n`])
})
