import t from 'tap'
import {
  formatDuration,
  parseDuration,
  parseOptions,
  storeOptions,
  wantsHelp,
} from '../src/args.js'
import { UsageError } from '../src/errors.js'

t.test('parseDuration: plain seconds or a unit', async (t) => {
  const cases: [string, number][] = [
    ['300', 300_000],
    ['0', 0],
    ['300s', 300_000],
    ['1500ms', 1500],
    ['5m', 300_000],
    ['12h', 43_200_000],
    ['7d', 604_800_000],
    [' 7d ', 604_800_000],
  ]
  for (const [text, ms] of cases) t.equal(parseDuration('--age', text, 'cleanup'), ms, text)
})

t.test('parseDuration: anything else is a usage error naming the flag and the value', async (t) => {
  for (const text of ['', 'abc', '-5', '1.5h', '5 m', '7w', '7D', '1e3', '9'.repeat(20)]) {
    t.throws(
      () => parseDuration('--token-age', text, 'cleanup'),
      {
        name: 'UsageError',
        exitCode: 2,
        command: 'cleanup',
        message: `--token-age must be a whole number of seconds or a duration like 300s, 5m, 12h or 7d, got '${text}'`,
      },
      JSON.stringify(text),
    )
  }
})

t.test('formatDuration: the largest exact unit', async (t) => {
  t.equal(formatDuration(604_800_000), '7d')
  t.equal(formatDuration(43_200_000), '12h')
  t.equal(formatDuration(300_000), '5m')
  t.equal(formatDuration(75_000), '75s')
  t.equal(formatDuration(1500), '1500ms')
  t.equal(formatDuration(0), '0ms')
})

t.test('wantsHelp: -h or --help before a --', async (t) => {
  t.equal(wantsHelp(['--store', 'x', '--help']), true)
  t.equal(wantsHelp(['-h']), true)
  t.equal(wantsHelp(['--store', 'x']), false)
  t.equal(wantsHelp(['--', '--help']), false)
})

t.test('parseOptions: strict, with one-line messages', async (t) => {
  t.same(parseOptions('stats', storeOptions, ['--store', 'memory:', '--prefix=p']), {
    store: 'memory:',
    prefix: 'p',
  })
  const fails = (args: string[], message: string) =>
    t.throws(() => parseOptions('stats', storeOptions, args), new UsageError(message, 'stats'))
  fails(['--bogus'], 'unknown option --bogus for stats')
  fails(['-z'], 'unknown option -z for stats')
  fails(['extra'], 'unexpected argument extra for stats')
  fails(['--store'], '--store needs a value (write --store=<value> for one that starts with -)')
  fails(
    ['--store', '--help'],
    '--store needs a value (write --store=<value> for one that starts with -)',
  )
  fails(['--help=yes'], '--help takes no value')
})
