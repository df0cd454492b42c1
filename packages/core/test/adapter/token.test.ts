import t from 'tap'
import { adapterFail } from '../../src/adapter/checks.js'
import { checkTokenEndpoint, issueTokenAnswer } from '../../src/adapter/token.js'
import { createWarden } from '../../src/warden.js'
import { SECRET } from '../helpers/server.js'

t.test(
  'issueTokenAnswer: 200 with a token that is never cached, 401 without a principal',
  async (t) => {
    const warden = createWarden({ tokens: { secret: SECRET, ttlSeconds: 30 } })
    t.teardown(() => warden.close())
    t.same(await issueTokenAnswer(warden, undefined), {
      status: 401,
      headers: {},
      body: { error: 'unauthorized' },
    })
    const issued = await issueTokenAnswer(warden, { userId: 'alice', permissions: [] })
    t.equal(issued.status, 200)
    t.same(issued.headers, { 'Cache-Control': 'no-store' })
    t.same(Object.keys(issued.body).sort(), ['expiresIn', 'token'])
    t.equal(issued.body.expiresIn, 30, "the warden's lifetime")
    t.equal(
      (
        await warden.admit({
          url: `/ws?ws_token=${String(issued.body.token)}`,
          headers: {},
          remoteAddress: '127.0.0.1',
        })
      ).ok,
      true,
    )
    const short = await issueTokenAnswer(warden, { userId: 'alice', permissions: [] }, 5)
    t.equal(short.body.expiresIn, 5, 'ttlSeconds')
  },
)

t.test('checkTokenEndpoint names the option', async (t) => {
  const fail = adapterFail('@ws-warden/test')
  const warden = { issueToken: () => {} }
  const authenticate = () => undefined
  t.doesNotThrow(() => checkTokenEndpoint(fail, 'tokenHandler', { warden, authenticate }, true))
  t.doesNotThrow(() => checkTokenEndpoint(fail, 'tokenRoute', { authenticate }, false))
  const cases: [unknown, boolean, string][] = [
    [undefined, true, '@ws-warden/test: tokenHandler option warden must be a Warden'],
    [
      { warden: {}, authenticate },
      true,
      '@ws-warden/test: tokenHandler option warden must be a Warden',
    ],
    [{ warden }, true, '@ws-warden/test: tokenHandler option authenticate must be a function'],
    [undefined, false, '@ws-warden/test: tokenHandler option authenticate must be a function'],
  ]
  for (const [options, needsWarden, message] of cases) {
    t.throws(
      () =>
        checkTokenEndpoint(fail, 'tokenHandler', options as { authenticate: unknown }, needsWarden),
      new TypeError(message),
    )
  }
})
