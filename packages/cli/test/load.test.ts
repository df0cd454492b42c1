import t from 'tap'
import { bounded, importOptional, NoAnswerError, unreachable } from '../src/stores/load.js'
import { parseStoreUrl } from '../src/store-url.js'

t.test('importOptional names the package to install', async (t) => {
  await t.rejects(importOptional('@ws-warden/not-a-package'), {
    name: 'CliError',
    exitCode: 1,
    message: 'this store needs the package @ws-warden/not-a-package: install it next to ws-warden',
  })
  await t.rejects(importOptional('not-a-driver/promise'), {
    message: 'this store needs the package not-a-driver: install it next to ws-warden',
  })
  await t.rejects(
    importOptional('data:text/javascript,throw new Error("broken module")'),
    { message: 'broken module' },
    'other failures pass through',
  )
  t.equal(typeof (await importOptional<{ platform: unknown }>('node:os')).platform, 'function')
})

t.test('bounded rejects with NoAnswerError when time is up', async (t) => {
  t.equal(await bounded(Promise.resolve(1), 100), 1)
  // The bound's timer is unref()'d (it never holds a process open): keep this one alive meanwhile.
  const alive = setTimeout(() => {}, 1000)
  await t.rejects(bounded(new Promise(() => {}), 20), new NoAnswerError('no answer within 20ms'))
  clearTimeout(alive)
})

t.test('unreachable: the redacted URL and a scrubbed reason', async (t) => {
  const url = parseStoreUrl('redis://:s3cret@127.0.0.1:1', 'stats')
  const error = unreachable(url, 5000, new Error('auth s3cret refused'))
  t.equal(error.message, 'cannot reach redis://:***@127.0.0.1:1: auth *** refused')
  t.equal(error.exitCode, 3)
  t.equal(
    unreachable(url, 5000, undefined).message,
    'cannot reach redis://:***@127.0.0.1:1: no answer within 5s',
  )
})
