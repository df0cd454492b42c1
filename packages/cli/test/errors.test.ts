import t from 'tap'
import { CliError, ExitCode, StoreUnreachableError, UsageError, messageOf } from '../src/errors.js'

t.test('exit codes', async (t) => {
  t.same(ExitCode, { ok: 0, failure: 1, usage: 2, unreachable: 3 })
  t.equal(new CliError('x').exitCode, 1)
  t.equal(new UsageError('x').exitCode, 2)
  t.equal(new UsageError('x', 'stats').command, 'stats')
  const cause = new Error('refused')
  const unreachable = new StoreUnreachableError('x', { cause })
  t.equal(unreachable.exitCode, 3)
  t.equal(unreachable.cause, cause)
  t.equal(unreachable.name, 'StoreUnreachableError')
})

t.test('messageOf: one line, without the libraries prefix', async (t) => {
  t.equal(messageOf(new Error('ws-warden: bad option')), 'bad option')
  t.equal(messageOf(new Error('first\nsecond')), 'first')
  t.equal(messageOf('a string'), 'a string')
  const refused = Object.assign(new Error('connect ECONNREFUSED ::1:1'), { code: 'ECONNREFUSED' })
  t.equal(messageOf(new AggregateError([refused], '')), 'connect ECONNREFUSED ::1:1')
  const coded = Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' })
  t.equal(messageOf(coded), 'ECONNREFUSED', 'the code when nothing else says what happened')
  t.equal(messageOf(new TypeError('')), 'TypeError', 'the name at worst')
})
