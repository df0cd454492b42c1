import t from 'tap'
import { originAllowed, resolveOrigins } from '../src/origins.js'
import type { UpgradeRequest } from '../src/types.js'
import { startServer } from './helpers/server.js'

const request = (headers: UpgradeRequest['headers']): UpgradeRequest => ({
  url: '/ws',
  headers,
  remoteAddress: '10.0.0.1',
})

t.test('an exact list: only the listed origins', async (t) => {
  const policy = resolveOrigins(['https://chat.example'])!
  t.ok(originAllowed(policy, 'https://chat.example', request({})))
  t.notOk(originAllowed(policy, 'https://chat.example.evil.example', request({})))
  t.notOk(originAllowed(policy, 'https://CHAT.example', request({})), 'matched exactly')
  t.same(resolveOrigins([]), new Set(), 'an empty list allows no Origin')
  t.equal(resolveOrigins(undefined), undefined, 'unset: every origin')
})

t.test("'same-origin': the Origin's host and port equal the Host header", async (t) => {
  const policy = resolveOrigins('same-origin')!
  const allowed = (origin: string, host: string | readonly string[] | undefined) =>
    originAllowed(policy, origin, request(host === undefined ? {} : { host }))
  t.ok(allowed('https://chat.example', 'chat.example'))
  t.ok(allowed('http://127.0.0.1:8080', '127.0.0.1:8080'))
  t.ok(allowed('https://chat.example', 'CHAT.example:443'), 'case and default port ignored')
  t.ok(allowed('http://[::1]:3000', '[::1]:3000'))
  t.notOk(allowed('https://evil.example', 'chat.example'))
  t.notOk(allowed('http://127.0.0.1:8081', '127.0.0.1:8080'), 'another port')
  t.notOk(allowed('https://chat.example', 'chat.example:80'), 'http port under https')
  t.notOk(allowed('https://chat.example.evil.example', 'chat.example'))
  t.notOk(allowed('null', 'chat.example'), 'an opaque origin')
  t.notOk(allowed('file://chat.example', 'chat.example'), 'not http(s)')
  t.notOk(allowed('https://chat.example', undefined), 'no Host')
  t.notOk(allowed('https://chat.example', ''), 'an empty Host')
  t.notOk(allowed('https://chat.example', ['chat.example']), 'not a single Host')
  t.notOk(allowed('https://chat.example', 'chat.example/x'), 'a Host with a path')
  t.notOk(allowed('https://chat.example', 'chat.example?x'), 'a Host with a query')
  t.notOk(allowed('https://chat.example', 'me@chat.example'), 'a Host with user info')
  t.notOk(allowed('https://chat.example', 'chat example'), 'a Host that does not parse')
})

t.test('a function decides; only true allows', async (t) => {
  const seen: [string, string][] = []
  const policy = resolveOrigins((origin: string, upgrade: UpgradeRequest) => {
    seen.push([origin, upgrade.url])
    return origin.endsWith('.chat.example')
  })!
  t.ok(originAllowed(policy, 'https://eu.chat.example', request({})))
  t.notOk(originAllowed(policy, 'https://evil.example', request({})))
  t.same(seen, [
    ['https://eu.chat.example', '/ws'],
    ['https://evil.example', '/ws'],
  ])
  const truthy = resolveOrigins(() => 1 as unknown as boolean)!
  t.notOk(originAllowed(truthy, 'https://a.example', request({})), 'a truthy non-true refuses')
})

t.test('the option is validated', async (t) => {
  for (const value of ['https://a.example', 'same-site', [''], ['ok', 3], {}, null]) {
    t.throws(() => resolveOrigins(value), {
      name: 'TypeError',
      message:
        "ws-warden: option origins must be an array of non-empty strings, 'same-origin' or a function",
    })
  }
})

t.test(
  'through a real socket: same-origin and a function, Origin-less clients allowed',
  async (t) => {
    const same = await startServer(t, { origins: 'same-origin' })
    const host = `127.0.0.1:${same.port}`
    t.equal((await same.connect('a', { origin: `http://${host}` })).status, 101)
    const evil = await same.connect('a', { origin: 'http://evil.example' })
    t.equal(evil.status, 403)
    t.equal((await same.connect('b')).status, 101, 'no Origin (not a browser)')

    const decided = await startServer(t, {
      origins: (origin, upgrade) =>
        origin === 'https://app.example' && upgrade.url.startsWith('/ws'),
    })
    t.equal((await decided.connect('a', { origin: 'https://app.example' })).status, 101)
    t.equal((await decided.connect('a', { origin: 'https://other.example' })).status, 403)
  },
)
