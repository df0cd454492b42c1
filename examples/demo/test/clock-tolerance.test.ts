/**
 * WARDEN_CLOCK_TOLERANCE_S: the leeway the demo's warden gives a token's `exp` (and `nbf`/`iat`).
 * With `0` a token is refused as soon as its TTL has passed; with the default (5 s) a token whose
 * `exp` has just passed is still accepted.
 */
import t from 'tap'
import { startDemo, until } from './helpers.js'

/** The `exp` claim (epoch seconds) of a connect token. */
function expiresAt(token: string): number {
  const payload = token.split('.')[1] ?? ''
  return (JSON.parse(Buffer.from(payload, 'base64url').toString()) as { exp: number }).exp
}

/** A 1 s token, used once its TTL has passed: the handshake's status. */
async function statusAfterTtl(t: Parameters<typeof startDemo>[0], env: Record<string, string>) {
  const { login, token, open } = await startDemo(t, { WARDEN_TOKEN_TTL_S: '1', ...env })
  const cookie = await login('alice')
  const issuedAt = Date.now()
  const issued = await token(cookie)
  // Past both the TTL (1.x s after issue) and the `exp` claim itself (whole seconds).
  const after = Math.max(issuedAt + 1_100, expiresAt(issued) * 1_000 + 100)
  await until(() => Date.now() >= after, 5_000)
  return (await open(`?ws_token=${issued}`, { cookie })).status
}

t.test('WARDEN_CLOCK_TOLERANCE_S=0: a 1 s token used after 1.x s is refused', async (t) => {
  t.equal(await statusAfterTtl(t, { WARDEN_CLOCK_TOLERANCE_S: '0' }), 401)
})

t.test('by default (5 s of leeway) the same token is still accepted', async (t) => {
  t.equal(await statusAfterTtl(t, {}), 101)
})
