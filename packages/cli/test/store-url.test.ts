import t from 'tap'
import { parseStoreUrl, redactUrl, scrub } from '../src/store-url.js'

t.test('every supported scheme names its kind', async (t) => {
  const cases: [string, string][] = [
    ['memory:', 'memory'],
    ['memory://', 'memory'],
    ['MEMORY:', 'memory'],
    ['redis://127.0.0.1:6379', 'redis'],
    ['rediss://cache.example:6380/2', 'redis'],
    ['postgres://app@db/app', 'postgres'],
    ['postgresql://app@db/app', 'postgres'],
    ['mysql://root@db:3306/test', 'mysql'],
    ['mariadb://root@db:3306/test', 'mysql'],
  ]
  for (const [url, kind] of cases) t.equal(parseStoreUrl(url, 'stats').kind, kind, url)
})

t.test('bad URLs are usage errors that never show the password', async (t) => {
  const fails = (url: string, message: string | RegExp) =>
    t.throws(() => parseStoreUrl(url, 'stats'), { name: 'UsageError', exitCode: 2, message }, url)
  fails('not a url', /^--store is not a valid URL: 'not a url' \(expected memory:, redis:\/\//)
  fails(
    'http://u:hunter2@host/',
    /^unsupported store URL scheme 'http:' in 'http:\/\/u:\*\*\*@host\/'/,
  )
  fails('memory:extra', "a memory store URL is just 'memory:', got 'memory:extra'")
  fails('redis://:hunter2@/0', /^--store is not a valid URL: 'redis:\/\/:\*\*\*@\/0'/)
  fails('postgres://', "the store URL 'postgres://' has no host")
})

t.test('the password, raw and decoded, and password parameters are secrets', async (t) => {
  const url = parseStoreUrl('postgres://app:p%40ss@db/app?sslpassword=k3y&x=1', 'stats')
  t.same(url.secrets, ['p%40ss', 'p@ss', 'k3y'])
  t.equal(url.redacted, 'postgres://app:***@db/app?sslpassword=***&x=1')
  t.same(parseStoreUrl('redis://127.0.0.1', 'stats').secrets, [], 'no password, no secret')
  t.same(parseStoreUrl('redis://:%E0%A4%A@h', 'stats').secrets, ['%E0%A4%A'], 'undecodable')
})

t.test('redactUrl hides passwords, even in strings that are not URLs', async (t) => {
  t.equal(redactUrl('redis://:secret@127.0.0.1:6379/0'), 'redis://:***@127.0.0.1:6379/0')
  t.equal(redactUrl('mysql://root:pa@ss/w@host/db'), 'mysql://root:***@host/db', 'the last @')
  t.equal(
    redactUrl('postgres://host/db?password=x&pwd=y;pass=z'),
    'postgres://host/db?password=***&pwd=***;pass=***',
  )
  t.equal(redactUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379', 'nothing to hide')
  t.equal(redactUrl('redis://user@host'), 'redis://user@host', 'a user without a password')
  t.equal(redactUrl('memory:'), 'memory:')
})

t.test('scrub replaces every occurrence of every secret', async (t) => {
  t.equal(scrub('bad pass s3cret for s3cret', ['s3cret']), 'bad pass *** for ***')
  t.equal(scrub('nothing here', []), 'nothing here')
})
