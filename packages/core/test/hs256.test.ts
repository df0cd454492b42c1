// The synchronous HS256 verifier: secrets option, strict parsing, claim checks, rotation. The
// equivalence with jose over thousands of tokens is in hs256.differential.test.ts.
import { createHmac, randomBytes } from 'node:crypto'
import t from 'tap'
import { errors } from 'jose'
import { UnauthorizedError } from '../src/errors.js'
import { Hs256Verifier, hs256Secrets, MIN_SECRET_BYTES } from '../src/hs256.js'
import type { Hs256VerifyOptions } from '../src/hs256.js'
import { CONNECT_TOKEN_TYPE, ConnectTokens } from '../src/tokens.js'

const SECRET = randomBytes(32)
const NOW = 1_700_000_000_000
const IAT = NOW / 1000
const OPTIONS: Hs256VerifyOptions = {
  issuer: 'ws-warden',
  audience: 'ws-warden',
  typ: CONNECT_TOKEN_TYPE,
  requiredClaims: ['exp', 'iat', 'jti', 'sub'],
  clockTolerance: 5,
  maxTokenAge: 3600,
}
const CLAIMS = {
  sub: 'u1',
  jti: 'j1',
  iat: IAT,
  exp: IAT + 60,
  iss: 'ws-warden',
  aud: 'ws-warden',
}
const HEADER = { alg: 'HS256', typ: CONNECT_TOKEN_TYPE }

const part = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** A token over any header and payload text, signed with `secret`. */
function token(
  claims: unknown = CLAIMS,
  header: unknown = HEADER,
  secret: Uint8Array = SECRET,
): string {
  const input = `${part(header)}.${part(claims)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** The error `verify` throws, checked to be the jose error class given. */
function rejects(
  t: Tap,
  verifier: Hs256Verifier,
  jwt: string,
  type: new (...args: never[]) => Error,
  now = NOW,
): Record<string, unknown> {
  try {
    verifier.verify(jwt, now)
  } catch (error) {
    t.type(error, type)
    return error as unknown as Record<string, unknown>
  }
  t.fail('expected a rejection')
  return {}
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

const verifier = new Hs256Verifier([SECRET], OPTIONS)

t.test('the secrets option: one secret or a list, each at least 32 bytes, copied', async (t) => {
  t.equal(MIN_SECRET_BYTES, 32)
  t.same(hs256Secrets('x'.repeat(32)), [new TextEncoder().encode('x'.repeat(32))])
  const bytes = new Uint8Array(32).fill(7)
  const [copy] = hs256Secrets(bytes)
  bytes.fill(0)
  t.equal(copy![0], 7, 'a Uint8Array is copied')
  t.equal(hs256Secrets(['a'.repeat(32), new Uint8Array(40)]).length, 2)
  const cases: Array<[unknown, string]> = [
    [[], 'tokens.secret must not be an empty list'],
    [42, 'tokens.secret must be a string or a Uint8Array'],
    ['é'.repeat(15), 'tokens.secret must be at least 32 bytes'],
    [['a'.repeat(32), 42], 'tokens.secret[1] must be a string or a Uint8Array'],
    [['a'.repeat(32), 'short'], 'tokens.secret[1] must be at least 32 bytes'],
    [[new Uint8Array(31)], 'tokens.secret[0] must be at least 32 bytes'],
  ]
  for (const [value, message] of cases) {
    t.throws(() => hs256Secrets(value), { name: 'TypeError', message }, message)
  }
  t.throws(() => new Hs256Verifier([], OPTIONS), {
    name: 'TypeError',
    message: 'Hs256Verifier needs at least one secret',
  })
})

t.test('a valid token returns its claims', async (t) => {
  t.same(verifier.verify(token(), NOW), CLAIMS)
  const extra = { ...CLAIMS, nbf: IAT, aud: ['other', 'ws-warden'], perm: ['x'] }
  t.same(verifier.verify(token(extra, { ...HEADER, kid: 'k' }), NOW), extra)
  t.ok(verifier.verify(token(CLAIMS, { ...HEADER, typ: 'Application/WS-Connect+JWT' }), NOW))
  t.ok(verifier.verify(token(CLAIMS, { ...HEADER, b64: true }), NOW), 'b64: true is the default')
  const bom = `\uFEFF${JSON.stringify(CLAIMS)}`
  t.same(verifier.verify(token(bom), NOW), CLAIMS, 'a byte order mark is dropped, as jose does')
})

/** base64url of `value`'s JSON with trailing spaces until its length is `mod` (mod 4). */
function encodedWith(value: unknown, mod: number): string {
  for (let json = JSON.stringify(value); ; json += ' ') {
    const encoded = part(json)
    if (encoded.length % 4 === mod) return encoded
  }
}

/** The same encoding with an unused low bit of its last character set. */
function unusedBitSet(encoded: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(encoded[encoded.length - 1]!)
  return `${encoded.slice(0, -1)}${alphabet[last | 1]!}`
}

/** A token over already-encoded header and payload parts, signed with SECRET. */
function signed(header: string, payload: string): string {
  const input = `${header}.${payload}`
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
}

t.test('structure and encoding', async (t) => {
  const valid = token()
  const [h, p, s] = valid.split('.') as [string, string, string]
  for (const jwt of [`${h}.${p}`, `${valid}.`, 'x', '']) {
    t.match(rejects(t, verifier, jwt, errors.JWSInvalid), { code: 'ERR_JWS_INVALID' })
  }
  // Each of these is signed over exactly what it carries; jose would accept the first three.
  const two = encodedWith(HEADER, 2)
  const three = encodedWith(HEADER, 3)
  const badHeaders = [
    `${two}==`,
    `${three}=`,
    ` ${h}`,
    unusedBitSet(two),
    unusedBitSet(three),
    `${encodedWith(HEADER, 0)}A`,
    `${h}+`,
    part('not json'),
    part('[1]'),
    part('null'),
    Buffer.from([0xff, 0xfe]).toString('base64url'),
  ]
  for (const header of badHeaders) {
    t.match(rejects(t, verifier, signed(header, p), errors.JWSInvalid), {}, header)
  }
  t.ok(verifier.verify(signed(two, p), NOW), 'the unpadded forms verify')
  t.ok(verifier.verify(signed(three, p), NOW))
  rejects(t, verifier, `${h}.${p}é.${s}`, errors.JWSInvalid)
  rejects(t, verifier, `${h}.${p}.${s}=`, errors.JWSInvalid)
  rejects(t, verifier, `${h}.${p}.${s.slice(0, -1)}+`, errors.JWSInvalid)
  rejects(t, verifier, `${h}.${p}.${unusedBitSet(s)}`, errors.JWSInvalid)
  // Authentic, but the payload is not canonical base64url: still refused.
  const payload = encodedWith(CLAIMS, 2)
  t.ok(verifier.verify(signed(h, payload), NOW))
  for (const bad of [`${payload}==`, unusedBitSet(payload), `${encodedWith(CLAIMS, 0)}A`]) {
    rejects(t, verifier, signed(h, bad), errors.JWSInvalid)
  }
  rejects(t, verifier, signed(h, `${p.slice(0, 8)} ${p.slice(8)}`), errors.JWSInvalid)
  for (const text of ['not json', '[]', 'null', '"s"', '42']) {
    rejects(t, verifier, token(text), errors.JWTInvalid)
  }
  rejects(
    t,
    verifier,
    signed(h, Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')),
    errors.JWTInvalid,
  )
})

t.test('header: alg, crit, b64', async (t) => {
  const cases: Array<[Record<string, unknown>, new (...args: never[]) => Error]> = [
    [{ typ: CONNECT_TOKEN_TYPE }, errors.JWSInvalid],
    [{ alg: '', typ: CONNECT_TOKEN_TYPE }, errors.JWSInvalid],
    [{ alg: 256, typ: CONNECT_TOKEN_TYPE }, errors.JWSInvalid],
    [{ alg: 'none', typ: CONNECT_TOKEN_TYPE }, errors.JOSEAlgNotAllowed],
    [{ alg: 'HS384', typ: CONNECT_TOKEN_TYPE }, errors.JOSEAlgNotAllowed],
    [{ alg: 'hs256', typ: CONNECT_TOKEN_TYPE }, errors.JOSEAlgNotAllowed],
    [{ ...HEADER, crit: 'b64' }, errors.JWSInvalid],
    [{ ...HEADER, crit: [] }, errors.JWSInvalid],
    [{ ...HEADER, crit: [''] }, errors.JWSInvalid],
    [{ ...HEADER, crit: [7] }, errors.JWSInvalid],
    [{ ...HEADER, crit: ['exp'], exp: 1 }, errors.JOSENotSupported],
    [{ ...HEADER, crit: ['b64'], b64: true }, errors.JWSInvalid],
    [{ ...HEADER, crit: ['b64'], b64: false }, errors.JWSInvalid],
    [{ ...HEADER, b64: false }, errors.JWSInvalid],
  ]
  for (const [header, type] of cases) rejects(t, verifier, token(CLAIMS, header), type)
})

t.test('signatures: wrong key, wrong length, altered', async (t) => {
  rejects(
    t,
    verifier,
    token(CLAIMS, HEADER, randomBytes(32)),
    errors.JWSSignatureVerificationFailed,
  )
  const [h, p, s] = token().split('.') as [string, string, string]
  const truncated = `${h}.${p}.${Buffer.from(s, 'base64url').subarray(0, 31).toString('base64url')}`
  rejects(t, verifier, truncated, errors.JWSSignatureVerificationFailed)
  rejects(t, verifier, `${h}.${p}.`, errors.JWSSignatureVerificationFailed)
  const flipped = Buffer.from(s, 'base64url')
  flipped[0]! ^= 1
  rejects(
    t,
    verifier,
    `${h}.${p}.${flipped.toString('base64url')}`,
    errors.JWSSignatureVerificationFailed,
  )
  // Unauthenticated payloads are not decoded: a bad one with a bad signature fails the signature.
  rejects(t, verifier, `${h}.${p}!.${s}`, errors.JWSSignatureVerificationFailed)
})

t.test('typ, presence, iss and aud', async (t) => {
  const typs = [undefined, 'JWT', 'at+jwt', 42, 'application/jwt']
  for (const typ of typs) {
    const error = rejects(
      t,
      verifier,
      token(CLAIMS, { alg: 'HS256', typ }),
      errors.JWTClaimValidationFailed,
    )
    t.match(error, { claim: 'typ', reason: 'check_failed', payload: CLAIMS })
  }
  // jose's order: iss, aud, iat, sub, jti, exp.
  const missing = { sub: 'u1', jti: 'j1', iat: IAT, exp: IAT + 60 }
  t.match(rejects(t, verifier, token(missing), errors.JWTClaimValidationFailed), {
    claim: 'iss',
    reason: 'missing',
  })
  for (const claim of ['iss', 'aud', 'iat', 'sub', 'jti', 'exp'] as const) {
    const { [claim]: _dropped, ...rest } = CLAIMS
    t.match(rejects(t, verifier, token(rest), errors.JWTClaimValidationFailed), {
      claim,
      reason: 'missing',
    })
  }
  const wrong: Array<[Record<string, unknown>, string]> = [
    [{ iss: 'other' }, 'iss'],
    [{ iss: ['ws-warden'] }, 'iss'],
    [{ aud: 'other' }, 'aud'],
    [{ aud: ['a', 'b'] }, 'aud'],
    [{ aud: [] }, 'aud'],
    [{ aud: 7 }, 'aud'],
    [{ aud: null }, 'aud'],
  ]
  for (const [claims, claim] of wrong) {
    t.match(
      rejects(t, verifier, token({ ...CLAIMS, ...claims }), errors.JWTClaimValidationFailed),
      { claim, reason: 'check_failed' },
    )
  }
  t.ok(verifier.verify(token({ ...CLAIMS, aud: [1, 'ws-warden'] }), NOW), 'aud array with it')
})

t.test('exp, nbf and iat against the clock, with the tolerance', async (t) => {
  const at = (claims: Record<string, unknown>): string => token({ ...CLAIMS, ...claims })
  const ok = (claims: Record<string, unknown>, now = NOW): void => {
    t.ok(verifier.verify(at(claims), now), JSON.stringify(claims))
  }
  // exp: valid while exp > now - tolerance.
  ok({ exp: IAT - 4 })
  t.match(rejects(t, verifier, at({ exp: IAT - 5 }), errors.JWTExpired), {
    code: 'ERR_JWT_EXPIRED',
    claim: 'exp',
  })
  ok({ exp: IAT - 4 }, NOW + 999)
  rejects(t, verifier, at({ exp: IAT - 4 }), errors.JWTExpired, NOW + 1000)
  // nbf: valid while nbf <= now + tolerance.
  ok({ nbf: IAT + 5 })
  t.match(rejects(t, verifier, at({ nbf: IAT + 5.5 }), errors.JWTClaimValidationFailed), {
    claim: 'nbf',
  })
  // iat: at most maxTokenAge (+ tolerance) old, and at most tolerance in the future.
  ok({ iat: IAT - 3605, exp: IAT + 60 })
  t.match(rejects(t, verifier, at({ iat: IAT - 3606 }), errors.JWTExpired), { claim: 'iat' })
  ok({ iat: IAT + 5 })
  t.match(rejects(t, verifier, at({ iat: IAT + 6 }), errors.JWTClaimValidationFailed), {
    claim: 'iat',
    reason: 'check_failed',
  })
  for (const claim of ['iat', 'nbf', 'exp']) {
    for (const value of ['1', null, [1], true]) {
      t.match(rejects(t, verifier, at({ [claim]: value }), errors.JWTClaimValidationFailed), {
        claim,
        reason: 'invalid',
      })
    }
  }
  // A clock that is not a time fails like jose's currentDate check (a TypeError).
  for (const now of [Number.NaN, Infinity, 8.64e15 + 1])
    rejects(t, verifier, at({}), TypeError, now)
  t.ok(verifier.verify(at({ exp: 9e9 }), NOW + 0.9), 'fractional milliseconds are truncated')
})

t.test('exp may be optional when not required', async (t) => {
  const lenient = new Hs256Verifier([SECRET], { ...OPTIONS, requiredClaims: [] })
  const { exp: _exp, ...noExp } = CLAIMS
  t.same(lenient.verify(token(noExp), NOW), noExp)
  rejects(t, verifier, token(noExp), errors.JWTClaimValidationFailed)
})

t.test('rotation: several secrets verify, the first signs', async (t) => {
  const previous = randomBytes(32)
  const current = randomBytes(32)
  const rotating = new Hs256Verifier([current, previous], OPTIONS)
  t.ok(rotating.verify(token(CLAIMS, HEADER, previous), NOW), 'the previous secret verifies')
  t.ok(rotating.verify(token(CLAIMS, HEADER, current), NOW), 'the current one too')
  rejects(
    t,
    rotating,
    token(CLAIMS, HEADER, randomBytes(32)),
    errors.JWSSignatureVerificationFailed,
  )

  const clock = { now: () => NOW }
  const old = new ConnectTokens({ secret: previous }, clock)
  const { token: oldToken } = await old.issue({ userId: 'u1', permissions: [] })
  const during = new ConnectTokens({ secret: [current, previous] }, clock)
  t.equal((await during.verify(oldToken)).principal.userId, 'u1', 'listed: verifies')
  const { token: newToken } = await during.issue({ userId: 'u2', permissions: [] })
  const after = new ConnectTokens({ secret: [current] }, clock)
  t.equal((await after.verify(newToken)).principal.userId, 'u2', 'signed with the first secret')
  const error = await after.verify(oldToken).catch((caught: unknown) => caught)
  t.type(error, UnauthorizedError)
  t.match(error, {
    code: 'token_invalid',
    cause: { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' },
  })
  t.rejects(
    old.verify(newToken),
    { code: 'token_invalid' },
    'a verifier without the new secret refuses its tokens',
  )
  t.throws(() => new ConnectTokens({ secret: [current, 'short'] }), {
    message: 'tokens.secret[1] must be at least 32 bytes',
  })
})

t.test('a header seen before is not trusted for a different header', async (t) => {
  const verifier = new Hs256Verifier([SECRET], OPTIONS)
  t.equal(verifier.verify(token(), NOW).sub, 'u1')
  rejects(
    t,
    verifier,
    token(CLAIMS, { alg: 'none', typ: CONNECT_TOKEN_TYPE }),
    errors.JOSEAlgNotAllowed,
  )
  rejects(t, verifier, token(CLAIMS, { alg: 'HS256', typ: 'JWT' }), errors.JWTClaimValidationFailed)
  t.equal(verifier.verify(token(), NOW).sub, 'u1', 'the usual header again')
  // A header refused is not kept: the same refused header is refused again.
  const refused = token(CLAIMS, { alg: 'HS256', typ: CONNECT_TOKEN_TYPE, crit: ['b64'], b64: true })
  rejects(t, verifier, refused, errors.JWSInvalid)
  rejects(t, verifier, refused, errors.JWSInvalid)
  // A kept header does not vouch for the signature.
  rejects(
    t,
    verifier,
    token(CLAIMS, HEADER, randomBytes(32)),
    errors.JWSSignatureVerificationFailed,
  )
})
