import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto'
import { inspect } from 'node:util'
import t from 'tap'
import {
  CompactSign,
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  exportJWK,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
  type JWTVerifyGetKey,
} from 'jose'
import { StoreUnavailableError, UnauthorizedError } from '../src/errors.js'
import {
  CONNECT_TOKEN_TYPE,
  ConnectTokens,
  timingSafeEqualStrings,
  type TokenOptions,
} from '../src/tokens.js'
import type { Clock } from '../src/types.js'

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

const SECRET = randomBytes(32)
const T0 = 1_700_000_000_000 // epoch ms on a whole second
const IAT = T0 / 1000

function fixedClock(now = T0): Clock & { now(): number; set(ms: number): void } {
  let current = now
  return {
    now: () => current,
    set: (ms: number) => {
      current = ms
    },
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

/** A token signed with SECRET, with any header and claims (defaults: a valid connect token). */
async function craft(
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  key: Parameters<SignJWT['sign']>[0] = SECRET,
): Promise<string> {
  return new SignJWT({
    sub: 'u1',
    perm: ['chat'],
    jti: 'jti-1',
    iat: IAT,
    exp: IAT + 60,
    iss: 'ws-warden',
    aud: 'ws-warden',
    ...claims,
  })
    .setProtectedHeader({ alg: 'HS256', typ: CONNECT_TOKEN_TYPE, ...header })
    .sign(key)
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** The thrown error, checked to carry nothing of the token anywhere a log could reach. */
async function failure(
  t: Tap,
  tokens: ConnectTokens,
  token: string,
  code: string,
): Promise<UnauthorizedError> {
  const error = await rejection(tokens.verify(token))
  t.type(error, UnauthorizedError)
  const unauthorized = error as UnauthorizedError
  t.equal(unauthorized.code, code)
  t.equal(unauthorized.status, 401)
  assertNoToken(t, error, token)
  return unauthorized
}

function assertNoToken(t: Tap, error: unknown, token: string): void {
  const texts: string[] = [
    inspect(error, { depth: Infinity, showHidden: true }),
    JSON.stringify(error),
  ]
  for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
    texts.push(cause.message, String(cause.stack), JSON.stringify(cause))
  }
  // Tiny pieces ('..') would match unrelated text, such as a stack's '... 3 lines matching'.
  const pieces = [token, ...token.split('.')].filter((piece) => piece.length >= 16)
  const leaked = texts.some((text) => pieces.some((piece) => text.includes(piece)))
  t.notOk(leaked, 'no part of the token in message, cause, stack, inspect or JSON')
}

t.test('HS256 round trip: token shape, principal, expiry', async (t) => {
  const clock = fixedClock(T0 + 400)
  const tokens = new ConnectTokens({ secret: SECRET }, clock)
  t.ok(tokens.canIssue)
  const issued = await tokens.issue({ userId: 'u1', permissions: ['chat', 'read'] })
  t.match(issued.jti, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.equal(issued.expiresAt, T0 + 60_000)
  t.equal(issued.expiresIn, 60)
  t.same(decodeProtectedHeader(issued.token), { alg: 'HS256', typ: 'ws-connect+jwt' })
  t.same(decodeJwt(issued.token), {
    perm: ['chat', 'read'],
    sub: 'u1',
    jti: issued.jti,
    iat: IAT,
    exp: IAT + 60,
    iss: 'ws-warden',
    aud: 'ws-warden',
  })

  const verified = await tokens.verify(issued.token)
  t.same(verified, {
    principal: { userId: 'u1', permissions: ['chat', 'read'] },
    jti: issued.jti,
    expiresAt: issued.expiresAt,
  })
  t.notOk('channels' in verified.principal)
  t.notOk('claims' in verified.principal)

  const again = await tokens.issue({ userId: 'u1', permissions: [] })
  t.not(again.jti, issued.jti, 'every token gets its own jti')
  const none = (await tokens.verify(again.token)).principal.permissions
  t.equal(none.length, 0)
  // No permissions: one frozen array shared by every connection, not an array each.
  t.ok(Object.isFrozen(none))
  const other = await tokens.issue({ userId: 'u2', permissions: [] })
  t.equal((await tokens.verify(other.token)).principal.permissions, none)
})

t.test(
  'channels and extra claims round trip; extra claims never override reserved ones',
  async (t) => {
    const tokens = new ConnectTokens({ secret: SECRET.toString('base64') })
    const principal = {
      userId: 'u1',
      permissions: ['chat'],
      channels: ['room:1', 'room:2'],
      claims: { tenant: 't9', sub: 'admin', perm: ['*'], exp: 9e12, nested: { a: [1, 2] } },
    }
    const issued = await tokens.issue(principal)
    const payload = decodeJwt(issued.token)
    t.equal(payload.sub, 'u1')
    t.same(payload.perm, ['chat'])
    t.equal(payload.exp, (payload.iat as number) + 60)
    t.same(payload.ch, ['room:1', 'room:2'])
    t.same(payload.ext, principal.claims)
    const { principal: verified } = await tokens.verify(issued.token)
    t.same(verified, principal)

    const empty = await tokens.issue({ userId: 'u1', permissions: [], claims: {} })
    t.notOk('ext' in decodeJwt(empty.token), 'no ext claim for empty claims')
  },
)

t.test('a secret is copied: changing the caller buffer later changes nothing', async (t) => {
  const secret = new Uint8Array(randomBytes(32))
  const tokens = new ConnectTokens({ secret, algorithm: 'HS256' } as TokenOptions)
  const { token } = await tokens.issue({ userId: 'u1', permissions: [] })
  secret.fill(0)
  t.equal((await tokens.verify(token)).principal.userId, 'u1')
})

t.test('ES256 and EdDSA round trips, with CryptoKeys and KeyObjects', async (t) => {
  for (const algorithm of ['ES256', 'EdDSA'] as const) {
    const { publicKey, privateKey } = await generateKeyPair(algorithm)
    const signer = new ConnectTokens({ algorithm, publicKey, privateKey })
    const issued = await signer.issue({ userId: 'u2', permissions: ['p'] })
    t.equal(decodeProtectedHeader(issued.token).alg, algorithm)
    t.equal((await signer.verify(issued.token)).jti, issued.jti, algorithm)

    const verifier = new ConnectTokens({ algorithm, publicKey })
    t.notOk(verifier.canIssue)
    t.equal((await verifier.verify(issued.token)).principal.userId, 'u2')
    const error = await rejection(verifier.issue({ userId: 'u2', permissions: [] }))
    t.type(error, TypeError)
    t.match(error, { message: /only verifies/ })
  }
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ed = generateKeyPairSync('ed25519')
  for (const [algorithm, pair] of [
    ['ES256', ec],
    ['EdDSA', ed],
  ] as const) {
    const tokens = new ConnectTokens({ algorithm, ...pair })
    const { token } = await tokens.issue({ userId: 'u3', permissions: [] })
    t.equal((await tokens.verify(token)).principal.userId, 'u3', `${algorithm} KeyObject`)
  }
})

t.test('a JWKS verifier (createLocalJWKSet)', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true })
  const signer = new ConnectTokens({ algorithm: 'ES256', publicKey, privateKey })
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }
  const verifier = new ConnectTokens({
    jwks: createLocalJWKSet({ keys: [jwk] }),
    algorithms: ['ES256', 'EdDSA'],
  })
  t.notOk(verifier.canIssue)
  t.type(await rejection(verifier.issue({ userId: 'u', permissions: [] })), TypeError)

  const issued = await signer.issue({ userId: 'u4', permissions: ['x'], channels: ['c'] })
  t.same((await verifier.verify(issued.token)).principal, {
    userId: 'u4',
    permissions: ['x'],
    channels: ['c'],
  })

  const withKid = await new SignJWT({ perm: [] })
    .setProtectedHeader({ alg: 'ES256', typ: CONNECT_TOKEN_TYPE, kid: 'k1' })
    .setSubject('u5')
    .setJti('j5')
    .setIssuedAt()
    .setExpirationTime('1m')
    .setIssuer('ws-warden')
    .setAudience('ws-warden')
    .sign(privateKey)
  t.equal((await verifier.verify(withKid)).principal.userId, 'u5')

  const unknownKid = await new SignJWT({ perm: [] })
    .setProtectedHeader({ alg: 'ES256', typ: CONNECT_TOKEN_TYPE, kid: 'k2' })
    .setSubject('u5')
    .setJti('j5')
    .setIssuedAt()
    .setExpirationTime('1m')
    .setIssuer('ws-warden')
    .setAudience('ws-warden')
    .sign(privateKey)
  const error = await failure(t, verifier, unknownKid, 'token_invalid')
  t.match(error.cause, { code: 'ERR_JWKS_NO_MATCHING_KEY' })

  const hs = await craft({
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 60,
  })
  const hsError = await failure(t, verifier, hs, 'token_invalid')
  t.match(hsError.cause, { code: 'ERR_JOSE_ALG_NOT_ALLOWED' })
})

t.test('a JWKS with several keys and no kid: each candidate is tried', async (t) => {
  const a = await generateKeyPair('ES256', { extractable: true })
  const b = await generateKeyPair('ES256', { extractable: true })
  const c = await generateKeyPair('ES256', { extractable: true })
  const jwks = createLocalJWKSet({
    keys: [await exportJWK(a.publicKey), await exportJWK(b.publicKey)],
  })
  const clock = fixedClock()
  const verifier = new ConnectTokens({ jwks, algorithms: ['ES256'] }, clock)

  const fromB = new ConnectTokens({ algorithm: 'ES256', ...b }, clock)
  const issued = await fromB.issue({ userId: 'u6', permissions: [] })
  t.equal((await verifier.verify(issued.token)).principal.userId, 'u6', 'second key matches')

  const fromC = new ConnectTokens({ algorithm: 'ES256', ...c }, clock)
  const stranger = await fromC.issue({ userId: 'u7', permissions: [] })
  const error = await failure(t, verifier, stranger.token, 'token_invalid')
  t.match(error.cause, { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' })

  clock.set(T0 + 3_600_000)
  const expired = await failure(t, verifier, issued.token, 'token_expired')
  t.match(expired.cause, { code: 'ERR_JWT_EXPIRED' })
})

t.test('JWKS infrastructure failures are 503 (store jwks), not 401', async (t) => {
  const sockets = new Set<Socket>()
  const listen = async (handler: RequestListener): Promise<Server> => {
    const server = createServer(handler)
    server.on('connection', (socket) => sockets.add(socket))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => {
      for (const socket of sockets) socket.destroy()
      server.close()
    })
    return server
  }
  const url = (server: Server): URL =>
    new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`)
  const token = `${b64({ alg: 'ES256', typ: CONNECT_TOKEN_TYPE })}.${b64({ sub: 'u1' })}.AAAA`

  const hanging = await listen(() => {})
  const slow = new ConnectTokens({
    jwks: createRemoteJWKSet(url(hanging), { timeoutDuration: 50 }),
    algorithms: ['ES256'],
  })
  const timeout = await rejection(slow.verify(token))
  t.type(timeout, StoreUnavailableError)
  t.match(timeout, { code: 'store_unavailable', status: 503, store: 'jwks', message: /timed out/ })
  t.match((timeout as Error).cause, { code: 'ERR_JWKS_TIMEOUT' })
  assertNoToken(t, timeout, token)

  const broken = await listen((_request, response) => response.writeHead(500).end())
  const failing = new ConnectTokens({
    jwks: createRemoteJWKSet(url(broken)),
    algorithms: ['ES256'],
  })
  const unavailable = await rejection(failing.verify(token))
  t.type(unavailable, StoreUnavailableError)
  t.match(unavailable, { status: 503, store: 'jwks', message: /unavailable/ })

  const throwing: JWTVerifyGetKey = () => {
    throw new Error('key service down')
  }
  const custom = new ConnectTokens({ jwks: throwing, algorithms: ['ES256'] })
  const down = await rejection(custom.verify(token))
  t.type(down, StoreUnavailableError)
  t.match((down as Error).cause, { message: 'key service down' })
})

t.test('expiry follows the injected clock, with the tolerance', async (t) => {
  const clock = fixedClock()
  const tokens = new ConnectTokens({ secret: SECRET }, clock)
  const { token } = await tokens.issue({ userId: 'u1', permissions: [] })

  clock.set(T0 + 64_999) // exp + 4.999 s: within the 5 s tolerance
  t.equal((await tokens.verify(token)).principal.userId, 'u1')

  clock.set(T0 + 65_000)
  const error = await failure(t, tokens, token, 'token_expired')
  t.equal(error.message, 'token expired')
  t.equal(error.closeCode, new UnauthorizedError('token_expired', 'x').closeCode)
  t.type(error.cause, errors.JWTExpired)
  t.match(error.cause, { claim: 'exp', payload: { sub: 'u1' } })

  const strict = new ConnectTokens({ secret: SECRET, clockToleranceSeconds: 0 }, clock)
  clock.set(T0 + 60_000)
  await failure(t, strict, token, 'token_expired')
  clock.set(T0 + 59_999)
  t.ok(await strict.verify(token))

  const short = await tokens.issue({ userId: 'u1', permissions: [] }, { ttlSeconds: 10 })
  t.equal(short.expiresIn, 10)
  t.equal(short.expiresAt, T0 + 59_000 + 10_000)
  const { exp, iat } = decodeJwt(short.token)
  t.equal((exp as number) - (iat as number), 10)
})

t.test('iat and nbf in the future are rejected beyond the tolerance', async (t) => {
  const clock = fixedClock()
  const verifier = new ConnectTokens({ secret: SECRET }, clock)
  const ahead = (ms: number): ConnectTokens =>
    new ConnectTokens({ secret: SECRET }, fixedClock(T0 + ms))

  const fine = await ahead(5_000).issue({ userId: 'u1', permissions: [] })
  t.ok(await verifier.verify(fine.token), 'iat 5 s ahead is tolerated')
  const early = await ahead(6_000).issue({ userId: 'u1', permissions: [] })
  const error = await failure(t, verifier, early.token, 'token_invalid')
  t.match(error.cause, { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iat' })

  t.ok(await verifier.verify(await craft({ nbf: IAT + 5 })), 'nbf 5 s ahead is tolerated')
  const nbf = await failure(t, verifier, await craft({ nbf: IAT + 6 }), 'token_invalid')
  t.match(nbf.cause, { claim: 'nbf' })

  // Issued more than maxTtlSeconds ago: too old, whatever exp says.
  const old = await failure(
    t,
    verifier,
    await craft({ iat: IAT - 4000, exp: IAT + 10 }),
    'token_expired',
  )
  t.match(old.cause, { claim: 'iat' })
})

t.test('a lifetime longer than maxTtlSeconds is refused on issue and on verify', async (t) => {
  const tokens = new ConnectTokens({ secret: SECRET, maxTtlSeconds: 120 }, fixedClock())
  const error = await rejection(
    tokens.issue({ userId: 'u1', permissions: [] }, { ttlSeconds: 121 }),
  )
  t.type(error, TypeError)
  t.equal(
    (error as Error).message,
    'ttlSeconds must be at most tokens.maxTtlSeconds (120); got 121',
  )
  t.equal(
    (await tokens.issue({ userId: 'u1', permissions: [] }, { ttlSeconds: 120 })).expiresIn,
    120,
  )

  const long = await failure(t, tokens, await craft({ exp: IAT + 121 }), 'token_invalid')
  t.match(long.cause, { claim: 'exp', message: /maxTtlSeconds/ })
  t.ok(await tokens.verify(await craft({ exp: IAT + 120 })))
})

t.test('wrong keys and algorithms are rejected', async (t) => {
  const clock = fixedClock()
  const tokens = new ConnectTokens({ secret: SECRET }, clock)
  const other = new ConnectTokens({ secret: randomBytes(32) }, clock)
  const { token } = await other.issue({ userId: 'u1', permissions: [] })
  const wrongSecret = await failure(t, tokens, token, 'token_invalid')
  t.equal(wrongSecret.message, 'token invalid')
  t.match(wrongSecret.cause, { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' })

  // An HS256 token to an ES256 verifier (the classic public-key-as-HMAC-secret confusion).
  const { publicKey } = await generateKeyPair('ES256')
  const es = new ConnectTokens({ algorithm: 'ES256', publicKey }, clock)
  const hs = await failure(t, es, await craft(), 'token_invalid')
  t.match(hs.cause, { code: 'ERR_JOSE_ALG_NOT_ALLOWED' })

  // alg none, with and without the right typ.
  const none = `${b64({ alg: 'none', typ: CONNECT_TOKEN_TYPE })}.${b64({
    sub: 'u1',
    perm: ['admin'],
    jti: 'j',
    iat: IAT,
    exp: IAT + 60,
    iss: 'ws-warden',
    aud: 'ws-warden',
  })}.`
  const noneError = await failure(t, tokens, none, 'token_invalid')
  t.match(noneError.cause, { code: 'ERR_JOSE_ALG_NOT_ALLOWED' })
  const unsecured = new UnsecuredJWT({ perm: ['admin'] }).setSubject('u1').encode()
  await failure(t, tokens, unsecured, 'token_invalid')

  // An ES256 token to an HS256 verifier.
  const pair = await generateKeyPair('ES256')
  const esToken = await new ConnectTokens({ algorithm: 'ES256', ...pair }, clock).issue({
    userId: 'u1',
    permissions: [],
  })
  await failure(t, tokens, esToken.token, 'token_invalid')
})

t.test('typ, iss and aud must match', async (t) => {
  const clock = fixedClock()
  const tokens = new ConnectTokens({ secret: SECRET }, clock)
  const accessToken = await failure(t, tokens, await craft({}, { typ: 'JWT' }), 'token_invalid')
  t.match(accessToken.cause, { claim: 'typ' })
  await failure(t, tokens, await craft({}, { typ: 'at+jwt' }), 'token_invalid')
  await failure(t, tokens, await craft({}, { typ: undefined }), 'token_invalid')
  t.ok(
    await tokens.verify(await craft({}, { typ: 'application/WS-CONNECT+JWT' })),
    'media type form',
  )

  const iss = await failure(t, tokens, await craft({ iss: 'someone-else' }), 'token_invalid')
  t.match(iss.cause, { claim: 'iss' })
  const aud = await failure(t, tokens, await craft({ aud: 'api' }), 'token_invalid')
  t.match(aud.cause, { claim: 'aud' })

  const custom = new ConnectTokens({ secret: SECRET, issuer: 'auth', audience: 'chat' }, clock)
  const issued = await custom.issue({ userId: 'u1', permissions: [] })
  t.match(decodeJwt(issued.token), { iss: 'auth', aud: 'chat' })
  t.ok(await custom.verify(issued.token))
  await failure(t, tokens, issued.token, 'token_invalid')
  await failure(t, custom, await craft(), 'token_invalid')
})

t.test('tampered and malformed tokens', async (t) => {
  const clock = fixedClock()
  const tokens = new ConnectTokens({ secret: SECRET }, clock)
  const { token } = await tokens.issue({ userId: 'u1', permissions: ['read'] })
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const claims = decodeJwt(token)
  const tampered = `${header}.${b64({ ...claims, perm: ['admin'] })}.${signature}`
  const error = await failure(t, tokens, tampered, 'token_invalid')
  t.match(error.cause, { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' })
  await failure(t, tokens, `${header}.${payload}.${signature.slice(0, -2)}`, 'token_invalid')
  await failure(t, tokens, `${header}.${payload}`, 'token_invalid')
  await failure(t, tokens, `${token}.`, 'token_invalid')
  await failure(t, tokens, 'not a token', 'token_invalid')
  await failure(t, tokens, '..', 'token_invalid')
  await failure(t, tokens, `${header}.${payload}.!!!`, 'token_invalid')

  // Signed, but the payload is not JSON: jose's cause quotes the decoded text; it is dropped.
  const notJson = await new CompactSign(new TextEncoder().encode('secret-ish payload'))
    .setProtectedHeader({ alg: 'HS256', typ: CONNECT_TOKEN_TYPE })
    .sign(SECRET)
  const jsonError = await failure(t, tokens, notJson, 'token_invalid')
  t.match(jsonError.cause, { code: 'ERR_JWT_INVALID' })
  t.equal((jsonError.cause as Error).cause, undefined)
  t.notOk(inspect(jsonError, { depth: Infinity }).includes('secret-ish'))

  const tooLong = await failure(t, tokens, `${token}${'A'.repeat(8192)}`, 'token_invalid')
  t.match(tooLong.cause, { code: 'ERR_JWT_INVALID', message: /longer than 8192/ })
})

t.test('missing tokens', async (t) => {
  const tokens = new ConnectTokens({ secret: SECRET })
  for (const missing of ['', undefined, null, 42]) {
    const error = await rejection(tokens.verify(missing as string))
    t.type(error, UnauthorizedError)
    t.match(error, { code: 'token_missing', status: 401, message: 'token missing' })
  }
})

t.test('claims are type-checked', async (t) => {
  const tokens = new ConnectTokens({ secret: SECRET }, fixedClock())
  const invalid: Array<[Record<string, unknown>, string]> = [
    [{ perm: 'admin' }, 'perm'],
    [{ perm: ['ok', 1] }, 'perm'],
    [{ perm: { admin: true } }, 'perm'],
    [{ ch: 'room' }, 'ch'],
    [{ ch: [null] }, 'ch'],
    [{ ext: ['a'] }, 'ext'],
    [{ ext: null }, 'ext'],
    [{ ext: 'x' }, 'ext'],
    [{ sub: '' }, 'sub'],
    [{ sub: 42 }, 'sub'],
    [{ sub: undefined }, 'sub'],
    [{ jti: '' }, 'jti'],
    [{ jti: 42 }, 'jti'],
    [{ jti: 'j'.repeat(256) }, 'jti'],
    [{ jti: undefined }, 'jti'],
    [{ exp: undefined }, 'exp'],
    [{ exp: 'soon' }, 'exp'],
    [{ iat: undefined }, 'iat'],
    [{ iat: 'now' }, 'iat'],
    [{ iss: undefined }, 'iss'],
    [{ aud: undefined }, 'aud'],
  ]
  for (const [claims, claim] of invalid) {
    const error = await failure(t, tokens, await craft(claims), 'token_invalid')
    t.match(error.cause, { claim }, JSON.stringify(claims))
  }
  const noPerm = await tokens.verify(await craft({ perm: undefined }))
  t.same(noPerm.principal.permissions, [], 'a token without perm grants nothing')
  const maxJti = await tokens.verify(await craft({ jti: 'j'.repeat(255) }))
  t.equal(maxJti.jti.length, 255)
  const full = await tokens.verify(await craft({ ch: [], ext: { plan: 'pro' } }))
  t.same(full.principal, {
    userId: 'u1',
    permissions: ['chat'],
    channels: [],
    claims: { plan: 'pro' },
  })
  t.equal(full.expiresAt, (IAT + 60) * 1000)
})

t.test('options are validated at construction, naming the option', async (t) => {
  const cases: Array<[unknown, string | RegExp]> = [
    [null, 'tokens options must be an object'],
    ['secret', 'tokens options must be an object'],
    [{}, /^tokens needs exactly one of secret .*; got none$/],
    [{ secret: SECRET, jwks: () => {} }, /got secret and jwks$/],
    [{ secret: undefined, publicKey: undefined, jwks: undefined }, /got none$/],
    [{ secret: 'short' }, 'tokens.secret must be at least 32 bytes'],
    [{ secret: 'é'.repeat(15) }, 'tokens.secret must be at least 32 bytes'],
    [{ secret: new Uint8Array(31) }, 'tokens.secret must be at least 32 bytes'],
    [{ secret: 42 }, 'tokens.secret must be a string or a Uint8Array'],
    [
      { secret: SECRET, algorithm: 'HS512' },
      'tokens.algorithm must be HS256 (or left out) with tokens.secret',
    ],
    [{ secret: SECRET, ttlSeconds: 0 }, 'tokens.ttlSeconds must be a positive integer'],
    [{ secret: SECRET, ttlSeconds: 1.5 }, 'tokens.ttlSeconds must be a positive integer'],
    [{ secret: SECRET, ttlSeconds: '60' }, 'tokens.ttlSeconds must be a positive integer'],
    [{ secret: SECRET, ttlSeconds: Number.NaN }, 'tokens.ttlSeconds must be a positive integer'],
    [
      { secret: SECRET, ttlSeconds: 3601 },
      'tokens.ttlSeconds must be at most tokens.maxTtlSeconds (3600); got 3601',
    ],
    [
      { secret: SECRET, ttlSeconds: 100, maxTtlSeconds: 50 },
      /^tokens.ttlSeconds must be at most tokens.maxTtlSeconds \(50\)/,
    ],
    [{ secret: SECRET, maxTtlSeconds: -1 }, 'tokens.maxTtlSeconds must be a positive integer'],
    [
      { secret: SECRET, clockToleranceSeconds: -1 },
      'tokens.clockToleranceSeconds must be a non-negative integer',
    ],
    [
      { secret: SECRET, clockToleranceSeconds: 0.5 },
      'tokens.clockToleranceSeconds must be a non-negative integer',
    ],
    [
      { secret: SECRET, clockToleranceSeconds: '5' },
      'tokens.clockToleranceSeconds must be a non-negative integer',
    ],
    [{ secret: SECRET, issuer: '' }, 'tokens.issuer must be a non-empty string'],
    [{ secret: SECRET, issuer: 42 }, 'tokens.issuer must be a non-empty string'],
    [{ secret: SECRET, audience: '' }, 'tokens.audience must be a non-empty string'],
    [
      { jwks: 'https://example.test/jwks', algorithms: ['ES256'] },
      /^tokens.jwks must be a key set function/,
    ],
    [{ jwks: () => {} }, /^tokens.algorithms must be a non-empty array of ES256, /],
    [{ jwks: () => {}, algorithms: [] }, /^tokens.algorithms must be a non-empty array/],
    [{ jwks: () => {}, algorithms: 'ES256' }, /^tokens.algorithms must be a non-empty array/],
    [{ jwks: () => {}, algorithms: ['HS256'] }, /^tokens.algorithms must be a non-empty array/],
    [
      { jwks: () => {}, algorithms: ['ES256', 'none'] },
      /^tokens.algorithms must be a non-empty array/,
    ],
    [{ jwks: () => {}, algorithms: [42] }, /^tokens.algorithms must be a non-empty array/],
  ]
  for (const [options, message] of cases) {
    t.throws(
      () => new ConnectTokens(options as TokenOptions),
      { name: 'TypeError', message },
      String(message),
    )
  }
  t.throws(() => new ConnectTokens({ secret: SECRET }, {} as Clock), {
    message: 'clock.now must be a function',
  })
  t.throws(() => new ConnectTokens({ secret: SECRET }, null as unknown as Clock), {
    message: 'clock.now must be a function',
  })
  t.doesNotThrow(
    () => new ConnectTokens({ secret: SECRET, clockToleranceSeconds: 0, ttlSeconds: 3600 }),
  )
  t.doesNotThrow(() => new ConnectTokens({ secret: 'x'.repeat(32) }))
})

t.test('keys are checked for their algorithm, type and usage at construction', async (t) => {
  const es = await generateKeyPair('ES256')
  const es384 = await generateKeyPair('ES384')
  const ed = await generateKeyPair('EdDSA')
  const ecObjects = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const edObjects = generateKeyPairSync('ed25519')
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const verifyless = (await webcrypto.subtle.generateKey(
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  )) as webcrypto.CryptoKeyPair
  const cases: Array<[Record<string, unknown>, string]> = [
    [
      { algorithm: 'RS256', publicKey: es.publicKey },
      'tokens.algorithm must be ES256 or EdDSA with tokens.publicKey',
    ],
    [{ publicKey: es.publicKey }, 'tokens.algorithm must be ES256 or EdDSA with tokens.publicKey'],
    [{ algorithm: 'ES256', publicKey: {} }, 'tokens.publicKey must be a CryptoKey or a KeyObject'],
    [
      { algorithm: 'ES256', publicKey: 'PEM' },
      'tokens.publicKey must be a CryptoKey or a KeyObject',
    ],
    [{ algorithm: 'ES256', publicKey: es.privateKey }, 'tokens.publicKey must be a public key'],
    [
      { algorithm: 'ES256', publicKey: ecObjects.privateKey },
      'tokens.publicKey must be a public key',
    ],
    [
      { algorithm: 'ES256', publicKey: ed.publicKey },
      'tokens.publicKey must be an EC P-256 key for ES256',
    ],
    [
      { algorithm: 'ES256', publicKey: es384.publicKey },
      'tokens.publicKey must be an EC P-256 key for ES256',
    ],
    [
      { algorithm: 'ES256', publicKey: rsa.publicKey },
      'tokens.publicKey must be an EC P-256 key for ES256',
    ],
    [
      { algorithm: 'EdDSA', publicKey: es.publicKey },
      'tokens.publicKey must be an Ed25519 key for EdDSA',
    ],
    [
      { algorithm: 'EdDSA', publicKey: ecObjects.publicKey },
      'tokens.publicKey must be an Ed25519 key for EdDSA',
    ],
    [
      { algorithm: 'ES256', publicKey: es.publicKey, privateKey: es.publicKey },
      'tokens.privateKey must be a private key',
    ],
    [
      { algorithm: 'EdDSA', publicKey: ed.publicKey, privateKey: edObjects.publicKey },
      'tokens.privateKey must be a private key',
    ],
    [
      { algorithm: 'EdDSA', publicKey: ed.publicKey, privateKey: es.privateKey },
      'tokens.privateKey must be an Ed25519 key for EdDSA',
    ],
    [
      { algorithm: 'ES256', publicKey: verifyless.publicKey },
      "tokens.publicKey must be a CryptoKey with the 'verify' usage",
    ],
    [
      { algorithm: 'ES256', publicKey: es.publicKey, privateKey: verifyless.publicKey },
      'tokens.privateKey must be a private key',
    ],
  ]
  for (const [options, message] of cases) {
    t.throws(
      () => new ConnectTokens(options as unknown as TokenOptions),
      { name: 'TypeError', message },
      message,
    )
  }
  // An ECDH P-256 key has the right curve but cannot sign.
  const signless = (await webcrypto.subtle.generateKey(
    { name: 'ECDH', namedCurve: 'P-256' },
    false,
    ['deriveBits'],
  )) as webcrypto.CryptoKeyPair
  t.throws(
    () =>
      new ConnectTokens({
        algorithm: 'ES256',
        publicKey: es.publicKey,
        privateKey: signless.privateKey,
      }),
    {
      message: "tokens.privateKey must be a CryptoKey with the 'sign' usage",
    },
  )
})

t.test('issue validates its ttl and the principal', async (t) => {
  const tokens = new ConnectTokens({ secret: SECRET })
  const cases: Array<[unknown, unknown, string]> = [
    [{ userId: 'u', permissions: [] }, { ttlSeconds: 0 }, 'ttlSeconds must be a positive integer'],
    [
      { userId: 'u', permissions: [] },
      { ttlSeconds: 3601 },
      'ttlSeconds must be at most tokens.maxTtlSeconds (3600); got 3601',
    ],
    [null, {}, 'principal must be an object'],
    ['u', {}, 'principal must be an object'],
    [{ userId: '', permissions: [] }, {}, 'principal.userId must be a non-empty string'],
    [{ userId: 7, permissions: [] }, {}, 'principal.userId must be a non-empty string'],
    [{ userId: 'u' }, {}, 'principal.permissions must be an array of strings'],
    [{ userId: 'u', permissions: [1] }, {}, 'principal.permissions must be an array of strings'],
    [
      { userId: 'u', permissions: [], channels: 'c' },
      {},
      'principal.channels must be an array of strings',
    ],
    [{ userId: 'u', permissions: [], claims: ['x'] }, {}, 'principal.claims must be an object'],
    [{ userId: 'u', permissions: [], claims: null }, {}, 'principal.claims must be an object'],
  ]
  for (const [principal, options, message] of cases) {
    const error = await rejection(tokens.issue(principal as never, options as never))
    t.type(error, TypeError, message)
    t.equal((error as Error).message, message)
  }
  const issued = await tokens.issue({ userId: 'u', permissions: [] }, { ttlSeconds: undefined })
  t.equal(issued.expiresIn, 60)
})

t.test('timingSafeEqualStrings', async (t) => {
  t.ok(timingSafeEqualStrings('', ''))
  t.ok(timingSafeEqualStrings('api-key-1', 'api-key-1'))
  t.notOk(timingSafeEqualStrings('api-key-1', 'api-key-2'))
  t.notOk(timingSafeEqualStrings('short', 'a much longer string than the other one'))
  t.notOk(timingSafeEqualStrings('abc', 'abc '))
  t.notOk(timingSafeEqualStrings('\uD800', '\uDC00'), 'lone surrogates are not collapsed')
  t.notOk(timingSafeEqualStrings('\u00e9', 'e\u0301'), 'no Unicode normalisation')
  t.ok(timingSafeEqualStrings('\u{1F600}x', '\u{1F600}x'))
})

t.test('verifyNow: the claims themselves for a secret, a promise for a key pair', async (t) => {
  const secret = new ConnectTokens({ secret: SECRET })
  t.ok(secret.verifiesNow)
  const { token } = await secret.issue({ userId: 'now', permissions: [] })
  const claims = secret.verifyNow(token)
  t.notOk(claims instanceof Promise)
  t.equal((claims as { principal: { userId: string } }).principal.userId, 'now')
  t.throws(() => secret.verifyNow(`${token}x`), { code: 'token_invalid' }, 'thrown, not rejected')

  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const pair = new ConnectTokens({ algorithm: 'ES256', publicKey, privateKey })
  t.notOk(pair.verifiesNow)
  const issued = await pair.issue({ userId: 'later', permissions: [] })
  const pending = pair.verifyNow(issued.token)
  t.ok(pending instanceof Promise)
  t.equal((await pending).principal.userId, 'later')
})
