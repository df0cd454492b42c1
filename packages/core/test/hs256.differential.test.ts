// Differential test: the synchronous HS256 verifier against jose's jwtVerify, given the options
// ConnectTokens gives jose, over a seeded corpus of a few thousand tokens (random claims around
// every time boundary, enumerated malformed inputs, random mutations of valid tokens), at a fixed
// clock. Outside the known stricter set (non-canonical base64url that jose's decoder tolerates,
// `crit` with `b64`, `b64: false`), outcomes must be identical: the same claims, or the same jose
// error code, claim and reason. Inside it, ours must refuse as token_invalid.
import { createHmac, webcrypto } from 'node:crypto'
import t from 'tap'
import { errors, jwtVerify } from 'jose'
import type { JWTVerifyOptions } from 'jose'
import { UnauthorizedError } from '../src/errors.js'
import { Hs256Verifier } from '../src/hs256.js'
import { CONNECT_TOKEN_TYPE, ConnectTokens } from '../src/tokens.js'

/** mulberry32: small, seeded, deterministic. */
class Random {
  #state: number
  constructor(seed: number) {
    this.#state = seed >>> 0
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let x = this.#state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256))
  }
}

const random = new Random(0x5eed_1e55)
const SECRET = random.bytes(32)
const OTHER = random.bytes(32)
/** A quarter of a second past a whole second: `now` is floored, as jose does. */
const NOW_MS = 1_700_000_000_250
const NOW = Math.floor(NOW_MS / 1000)
const RANDOM_TOKENS = 1200
const MUTATED_TOKENS = 900
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

interface Config {
  readonly name: string
  readonly issuer: string
  readonly audience: string
  readonly tolerance: number
  readonly maxAge: number
}
const CONFIGS: readonly Config[] = [
  { name: 'defaults', issuer: 'ws-warden', audience: 'ws-warden', tolerance: 5, maxAge: 3600 },
  { name: 'strict', issuer: 'auth', audience: 'chat', tolerance: 0, maxAge: 120 },
]

/** What ConnectTokens gives jose (its `#verifyOptions`), at the fixed clock. */
function joseOptions(config: Config): JWTVerifyOptions {
  return {
    algorithms: ['HS256'],
    issuer: config.issuer,
    audience: config.audience,
    typ: CONNECT_TOKEN_TYPE,
    requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    clockTolerance: config.tolerance,
    maxTokenAge: config.maxAge,
    currentDate: new Date(NOW_MS),
  }
}

function syncVerifier(config: Config, secrets: Uint8Array[]): Hs256Verifier {
  return new Hs256Verifier(secrets, {
    issuer: config.issuer,
    audience: config.audience,
    typ: CONNECT_TOKEN_TYPE,
    requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    clockTolerance: config.tolerance,
    maxTokenAge: config.maxAge,
  })
}

type Outcome =
  | { readonly ok: true; readonly payload: unknown }
  | { readonly ok: false; readonly code: string; readonly claim?: string; readonly reason?: string }

function failure(error: unknown): Outcome {
  if (!(error instanceof errors.JOSEError)) return { ok: false, code: String(error) }
  const { claim, reason } = error as Partial<errors.JWTClaimValidationFailed>
  return {
    ok: false,
    code: error.code,
    ...(claim === undefined ? {} : { claim }),
    ...(reason === undefined ? {} : { reason }),
  }
}

const key = (outcome: Outcome): string =>
  outcome.ok ? 'ok' : [outcome.code, outcome.claim].filter(Boolean).join(':')
const category = (outcome: Outcome): string =>
  outcome.ok ? 'ok' : outcome.code === 'ERR_JWT_EXPIRED' ? 'token_expired' : 'token_invalid'

// ---------------------------------------------------------------------------------------------
// Building tokens from raw parts

const encode = (text: string | Uint8Array): string => Buffer.from(text).toString('base64url')
const hmac = (secret: Uint8Array, input: string): string =>
  createHmac('sha256', secret).update(input).digest('base64url')
const signed = (header: string, payload: string, secret: Uint8Array = SECRET): string =>
  `${header}.${payload}.${hmac(secret, `${header}.${payload}`)}`

/** A JSON object's text from raw member texts, so numbers like 1e400 or -0 survive. */
const object = (members: ReadonlyArray<readonly [string, string]>): string =>
  `{${members.map(([name, raw]) => `${JSON.stringify(name)}:${raw}`).join(',')}}`

/** Spellings of the same bytes that jose's decoder (atob) accepts and strict base64url does not. */
function lenientSpelling(encoded: string): string {
  const choices: Array<() => string> = [
    () => ` ${encoded}`,
    () => `${encoded.slice(0, 4)}\n${encoded.slice(4)}`,
    () => `${encoded}\t`,
  ]
  if (encoded.length % 4 === 2) choices.push(() => `${encoded}==`)
  if (encoded.length % 4 === 3) choices.push(() => `${encoded}=`)
  if (encoded.length % 4 !== 0) {
    choices.push(() => {
      const last = ALPHABET.indexOf(encoded[encoded.length - 1]!)
      const bits = encoded.length % 4 === 2 ? 0x0f : 0x03
      return `${encoded.slice(0, -1)}${ALPHABET[(last & ~bits) | (1 + random.int(bits))]!}`
    })
  }
  return random.pick(choices)()
}

// ---------------------------------------------------------------------------------------------
// The oracle for the stricter set

const canonical = (part: string): boolean =>
  /^[A-Za-z0-9_-]*$/.test(part) && Buffer.from(part, 'base64url').toString('base64url') === part

/** What the WHATWG forgiving-base64 decoder (jose's, through atob) accepts, URL alphabet. */
function forgivingDecodable(part: string): boolean {
  let data = part.replace(/[\t\n\f\r ]/g, '')
  if (data.length % 4 === 0) data = data.replace(/={1,2}$/, '')
  return data.length % 4 !== 1 && /^[A-Za-z0-9_-]*$/.test(data)
}

function header(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(part, 'base64url')),
    )
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** True for tokens the strict verifier refuses by design while jose may not. */
function stricter(token: string): boolean {
  const parts = token.split('.')
  if (parts.length !== 3) return false
  if (parts.some((part) => !canonical(part) && forgivingDecodable(part))) return true
  const parsed = forgivingDecodable(parts[0]!) ? header(parts[0]!) : undefined
  if (parsed === undefined) return false
  const { crit, b64 } = parsed
  return (Array.isArray(crit) && crit.includes('b64')) || (crit === undefined && b64 === false)
}

// ---------------------------------------------------------------------------------------------
// The corpus

interface Case {
  readonly label: string
  readonly token: string
}

function timeRaw(config: Config, claim: 'iat' | 'exp' | 'nbf'): string {
  const { tolerance: tol, maxAge } = config
  const edges = {
    exp: [NOW - tol - 1, NOW - tol, NOW - tol + 1, NOW, NOW + 1, NOW - tol + 0.5, NOW - tol - 0.5],
    nbf: [NOW + tol - 1, NOW + tol, NOW + tol + 1, NOW + tol + 0.5, NOW - 100],
    iat: [
      NOW - maxAge - tol - 1,
      NOW - maxAge - tol,
      NOW - maxAge - tol + 1,
      NOW - maxAge - tol - 0.5,
      NOW + tol,
      NOW + tol + 1,
      NOW + tol + 0.5,
      NOW,
    ],
  }[claim]
  const roll = random.next()
  if (roll < 0.45) return String(random.pick(edges))
  if (roll < 0.8) {
    const spread = claim === 'iat' ? maxAge + 2 * tol + 4 : 2 * tol + 8
    const base = claim === 'iat' ? NOW - maxAge - tol - 2 : NOW - tol - 4
    return String(base + random.int(spread))
  }
  if (roll < 0.9) return random.pick(['1e400', '-1e400', '-0', '0', '1.7e9', '9007199254740993'])
  return random.pick(['"1700000000"', 'null', 'true', '[1700000000]', '{}', '""'])
}

/** Random claims: mostly valid, each claim sometimes missing, wrong or at a boundary. */
function randomClaims(config: Config): string {
  const members: Array<readonly [string, string]> = []
  const add = (name: string, raw: string, absent = 0.07): void => {
    if (!random.chance(absent)) members.push([name, raw])
  }
  const good = random.chance(0.75)
  add(
    'iss',
    JSON.stringify(
      good
        ? config.issuer
        : random.pick(['other', config.issuer.toUpperCase(), '', null, [config.issuer], 7]),
    ),
  )
  add(
    'aud',
    JSON.stringify(
      good
        ? random.pick([config.audience, [config.audience], ['x', config.audience]])
        : random.pick([
            'x',
            ['x'],
            [],
            null,
            7,
            [7, config.audience],
            [null],
            { aud: config.audience },
          ]),
    ),
  )
  add(
    'sub',
    JSON.stringify(random.chance(0.9) ? `u${random.int(100)}` : random.pick(['', 5, null])),
  )
  add('jti', JSON.stringify(random.chance(0.9) ? `j${random.int(1e6)}` : random.pick(['', 42])))
  add('iat', timeRaw(config, 'iat'))
  add('exp', random.chance(0.5) ? String(NOW + random.int(120)) : timeRaw(config, 'exp'))
  if (random.chance(0.3)) members.push(['nbf', timeRaw(config, 'nbf')])
  if (random.chance(0.5)) members.push(['perm', JSON.stringify(['chat'])])
  if (random.chance(0.1)) members.push(['ext', JSON.stringify({ plan: 'pro' })])
  // Shuffled, and sometimes a claim twice (JSON.parse keeps the last).
  for (let i = members.length - 1; i > 0; i--) {
    const j = random.int(i + 1)
    ;[members[i], members[j]] = [members[j]!, members[i]!]
  }
  if (random.chance(0.05) && members.length > 0) members.push([random.pick(members)[0], '"dup"'])
  return object(members)
}

function randomHeader(): string {
  const members: Array<readonly [string, string]> = []
  if (random.chance(0.9)) members.push(['alg', '"HS256"'])
  else {
    const alg = random.pick(['none', 'HS384', 'HS512', 'hs256', 'HS256 ', '', null, 256, 'ES256'])
    if (random.chance(0.9)) members.push(['alg', JSON.stringify(alg)])
  }
  const typ = random.chance(0.85)
    ? random.pick([
        CONNECT_TOKEN_TYPE,
        'WS-CONNECT+JWT',
        'application/ws-connect+jwt',
        'Application/Ws-Connect+Jwt',
      ])
    : random.pick([
        'JWT',
        'jwt',
        'application/jwt',
        '',
        42,
        null,
        'ws-connect+jwt ',
        'x/ws-connect+jwt',
        undefined,
      ])
  if (typ !== undefined) members.push(['typ', JSON.stringify(typ)])
  if (random.chance(0.1)) members.push(['kid', JSON.stringify(`k${random.int(9)}`)])
  if (random.chance(0.03)) members.push(['b64', random.pick(['true', 'false', '"false"', 'null'])])
  if (random.chance(0.03)) {
    const crit = random.pick([
      ['b64'],
      ['exp'],
      [],
      'b64',
      [''],
      [1],
      ['exp', 'b64'],
      ['b64', 'exp'],
    ])
    members.push(['crit', JSON.stringify(crit)])
  }
  return object(members)
}

function randomToken(config: Config): string {
  let header = encode(randomHeader())
  let payload = encode(randomClaims(config))
  if (random.chance(0.03)) header = lenientSpelling(header)
  if (random.chance(0.03)) payload = lenientSpelling(payload)
  const token = signed(header, payload, random.chance(0.05) ? OTHER : SECRET)
  if (random.chance(0.9)) return token
  const [h, p, s] = token.split('.') as [string, string, string]
  const bytes = Buffer.from(s, 'base64url')
  const sig = random.pick([
    () => bytes.subarray(0, random.int(32)).toString('base64url'),
    () => Buffer.concat([bytes, Buffer.from([random.int(256)])]).toString('base64url'),
    () => {
      const copy = Buffer.from(bytes)
      copy[random.int(32)]! ^= 1 << random.int(8)
      return copy.toString('base64url')
    },
    () => lenientSpelling(s),
  ])()
  return `${h}.${p}.${sig}`
}

/** A valid token for the config, then one random edit; re-signed half the time. */
function mutatedToken(config: Config): string {
  const valid = signed(
    encode(JSON.stringify({ alg: 'HS256', typ: CONNECT_TOKEN_TYPE })),
    encode(
      JSON.stringify({
        iss: config.issuer,
        aud: config.audience,
        sub: 'u1',
        jti: `j${random.int(1e6)}`,
        iat: NOW - random.int(10),
        exp: NOW + 30,
      }),
    ),
  )
  const chars = `${ALPHABET}.=+/ \t!é\u0000`
  const at = random.int(valid.length)
  const edit = random.pick([
    () => `${valid.slice(0, at)}${random.pick([...chars])}${valid.slice(at + 1)}`,
    () => `${valid.slice(0, at)}${valid.slice(at + 1)}`,
    () => `${valid.slice(0, at)}${random.pick([...chars])}${valid.slice(at)}`,
    () => valid.slice(0, at),
  ])()
  if (random.chance(0.5)) return edit
  const parts = edit.split('.')
  return parts.length === 3 ? signed(parts[0]!, parts[1]!) : edit
}

/** Every malformed shape the brief lists, enumerated. */
function enumerated(config: Config): Case[] {
  const claims = {
    iss: config.issuer,
    aud: config.audience,
    sub: 'u1',
    jti: 'j1',
    iat: NOW,
    exp: NOW + 60,
  }
  const h = encode(JSON.stringify({ alg: 'HS256', typ: CONNECT_TOKEN_TYPE }))
  const p = encode(JSON.stringify(claims))
  const valid = signed(h, p)
  const s = valid.split('.')[2]!
  const cases: Case[] = []
  const add = (label: string, token: string): void => void cases.push({ label, token })
  const withClaims = (label: string, extra: Record<string, unknown>): void =>
    add(label, signed(h, encode(JSON.stringify({ ...claims, ...extra }))))
  const withHeader = (label: string, text: string): void => add(label, signed(encode(text), p))
  const withPayload = (label: string, text: string | Uint8Array): void =>
    add(label, signed(h, encode(text)))

  add('valid', valid)
  for (const token of ['', '.', '..', '...', 'a', 'a.b', 'a.b.c', 'a.b.c.d', `${valid}.`]) {
    add(`parts ${JSON.stringify(token.slice(0, 12))}`, token)
  }
  add('four parts', `${h}.${p}.${p}.${s}`)
  add('two parts', `${h}.${p}`)
  add('leading dot', `.${valid}`)
  add('empty payload', signed(h, ''))
  add('empty header', signed('', p))
  add('empty signature', `${h}.${p}.`)
  for (const [label, text] of [
    ['not json', 'not json'],
    ['array', '[{"alg":"HS256"}]'],
    ['null', 'null'],
    ['string', '"HS256"'],
    ['number', '42'],
    ['truncated', '{"alg":"HS256"'],
    ['empty object', '{}'],
    ['duplicate alg, HS256 last', `{"alg":"none","alg":"HS256","typ":"${CONNECT_TOKEN_TYPE}"}`],
    ['duplicate alg, none last', `{"alg":"HS256","alg":"none","typ":"${CONNECT_TOKEN_TYPE}"}`],
    ['byte order mark', `\uFEFF{"alg":"HS256","typ":"${CONNECT_TOKEN_TYPE}"}`],
    ['whitespace json', ` { "alg" : "HS256" , "typ" : "${CONNECT_TOKEN_TYPE}" } `],
  ] as const) {
    withHeader(`header ${label}`, text)
  }
  add('header not utf-8', signed(encode(Uint8Array.from([0x7b, 0xff, 0x7d])), p))
  for (const alg of ['none', 'HS384', 'HS512', 'hs256', 'RS256', '', null, 1]) {
    withHeader(`alg ${JSON.stringify(alg)}`, JSON.stringify({ alg, typ: CONNECT_TOKEN_TYPE }))
    add(
      `alg ${JSON.stringify(alg)}, empty signature`,
      `${encode(JSON.stringify({ alg, typ: CONNECT_TOKEN_TYPE }))}.${p}.`,
    )
  }
  for (const crit of [['b64'], ['exp'], [], 'b64', [''], [1], ['exp', 'b64'], ['b64', 'exp']]) {
    for (const b64 of [undefined, true, false]) {
      withHeader(
        `crit ${JSON.stringify(crit)} b64 ${String(b64)}`,
        JSON.stringify({ alg: 'HS256', typ: CONNECT_TOKEN_TYPE, crit, b64 }),
      )
    }
  }
  for (const b64 of [true, false, 'false', null]) {
    withHeader(
      `b64 ${JSON.stringify(b64)}`,
      JSON.stringify({ alg: 'HS256', typ: CONNECT_TOKEN_TYPE, b64 }),
    )
  }
  for (const [label, text] of [
    ['not json', 'not json'],
    ['array', '[]'],
    ['array of claims', JSON.stringify([claims])],
    ['null', 'null'],
    ['number', '42'],
    ['string', '"claims"'],
    ['true', 'true'],
    ['truncated', '{"sub":"u1"'],
    ['byte order mark', `\uFEFF${JSON.stringify(claims)}`],
    ['__proto__', JSON.stringify(claims).replace('{', '{"__proto__":{"sub":"admin"},')],
  ] as const) {
    withPayload(`payload ${label}`, text)
  }
  withPayload('payload not utf-8', Uint8Array.from([0x7b, 0x22, 0xc3, 0x22, 0x7d]))
  const { tolerance: tol, maxAge } = config
  for (const exp of [NOW - tol - 1, NOW - tol, NOW - tol + 1, NOW, NOW + 0.5]) {
    withClaims(`exp now${exp - NOW >= 0 ? '+' : ''}${exp - NOW}`, { exp })
  }
  for (const nbf of [NOW, NOW + tol, NOW + tol + 1, NOW + tol + 0.25]) {
    withClaims(`nbf now+${nbf - NOW}`, { nbf })
  }
  for (const iat of [NOW + tol, NOW + tol + 1, NOW - maxAge - tol, NOW - maxAge - tol - 1]) {
    withClaims(`iat now${iat - NOW >= 0 ? '+' : ''}${iat - NOW}`, { iat })
  }
  for (const claim of ['iss', 'aud', 'sub', 'jti', 'iat', 'exp']) {
    const { [claim as keyof typeof claims]: _dropped, ...rest } = claims
    withPayload(`missing ${claim}`, JSON.stringify(rest))
  }
  withClaims('wrong iss', { iss: 'evil' })
  withClaims('wrong aud', { aud: 'evil' })
  withClaims('aud array with', { aud: ['x', config.audience] })
  withClaims('aud array without', { aud: ['x', 'y'] })
  withClaims('aud empty array', { aud: [] })
  withClaims('too old', { iat: NOW - maxAge - tol - 10, exp: NOW + 10 })
  add('wrong secret', signed(h, p, OTHER))
  const bytes = Buffer.from(s, 'base64url')
  for (const length of [0, 1, 16, 31, 33]) {
    const sig =
      length <= 32 ? bytes.subarray(0, length) : Buffer.concat([bytes, bytes.subarray(0, 1)])
    add(`signature of ${length} bytes`, `${h}.${p}.${sig.toString('base64url')}`)
  }
  add('signature one character short', valid.slice(0, -1))
  add('signature with +', `${h}.${p}.${s.slice(0, -1)}+`)
  add('signature with /', `${h}.${p}.${s.slice(0, 3)}/${s.slice(4)}`)
  add('signature padded', `${valid}=`)
  add('signature, last character changed in unused bits', `${h}.${p}.${lenientSpelling(s)}`)
  for (const [label, token] of [
    ['leading space', ` ${valid}`],
    ['trailing space', `${valid} `],
    ['trailing newline', `${valid}\n`],
    ['space after a dot', `${h}. ${p}.${s}`],
  ] as const) {
    add(`whitespace ${label}`, token)
  }
  add('whitespace inside the payload, signed', signed(h, `${p.slice(0, 10)} ${p.slice(10)}`))
  add('padding on the header, signed', signed(`${h}${'='.repeat((4 - (h.length % 4)) % 4)}`, p))
  withClaims('huge payload', { pad: 'x'.repeat(60_000) })
  withHeader(
    'huge header',
    JSON.stringify({ alg: 'HS256', typ: CONNECT_TOKEN_TYPE, kid: 'k'.repeat(20_000) }),
  )
  add('huge garbage', 'A'.repeat(30_000))
  return cases
}

function corpus(config: Config): Case[] {
  const cases = enumerated(config)
  for (let i = 0; i < RANDOM_TOKENS; i++)
    cases.push({ label: `random ${i}`, token: randomToken(config) })
  for (let i = 0; i < MUTATED_TOKENS; i++) {
    cases.push({ label: `mutated ${i}`, token: mutatedToken(config) })
  }
  return cases
}

// ---------------------------------------------------------------------------------------------

async function joseOutcome(
  token: string,
  secret: webcrypto.CryptoKey,
  options: JWTVerifyOptions,
): Promise<Outcome> {
  try {
    return { ok: true, payload: (await jwtVerify(token, secret, options)).payload }
  } catch (error) {
    return failure(error)
  }
}

function syncOutcome(verifier: Hs256Verifier, token: string): Outcome {
  try {
    return { ok: true, payload: verifier.verify(token, NOW_MS) }
  } catch (error) {
    return failure(error)
  }
}

const importKey = (secret: Uint8Array): Promise<webcrypto.CryptoKey> =>
  webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])

for (const config of CONFIGS) {
  t.test(`sync HS256 and jose agree (${config.name})`, async (t) => {
    const cases = corpus(config)
    const options = joseOptions(config)
    const keys = { secret: await importKey(SECRET), other: await importKey(OTHER) }
    const single = syncVerifier(config, [SECRET])
    const rotating = syncVerifier(config, [SECRET, OTHER])
    const tokens = new ConnectTokens(
      {
        secret: SECRET,
        issuer: config.issuer,
        audience: config.audience,
        clockToleranceSeconds: config.tolerance,
        maxTtlSeconds: config.maxAge,
      },
      { now: () => NOW_MS },
    )
    const mismatches: string[] = []
    const seen = new Map<string, number>()
    let stricterCount = 0
    let stricterJoseAccepted = 0

    for (const { label, token } of cases) {
      const expected = await joseOutcome(token, keys.secret, options)
      const actual = syncOutcome(single, token)
      const where = `${label} ${JSON.stringify(token.slice(0, 120))}`
      seen.set(key(expected), (seen.get(key(expected)) ?? 0) + 1)

      if (stricter(token)) {
        stricterCount++
        if (expected.ok) stricterJoseAccepted++
        if (category(actual) !== 'token_invalid') {
          mismatches.push(`stricter ${where}: ${JSON.stringify(actual)}`)
        }
      } else if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        mismatches.push(
          `${where}: jose ${JSON.stringify(expected)}, sync ${JSON.stringify(actual)}`,
        )
      }

      // Rotation: a second listed secret accepts what jose accepts with that secret.
      const withOther =
        !expected.ok && expected.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'
          ? await joseOutcome(token, keys.other, options)
          : expected
      const rotated = syncOutcome(rotating, token)
      if (!stricter(token) && JSON.stringify(rotated) !== JSON.stringify(withOther)) {
        mismatches.push(
          `rotation ${where}: jose ${JSON.stringify(withOther)}, sync ${JSON.stringify(rotated)}`,
        )
      }

      // Through ConnectTokens: the same error category callers see.
      const through = await tokens.verify(token).then(
        () => 'ok',
        (error: unknown) => (error instanceof UnauthorizedError ? error.code : String(error)),
      )
      const wanted =
        token === ''
          ? 'token_missing'
          : token.length > 8192 || stricter(token)
            ? 'token_invalid'
            : category(expected)
      // A token jose accepts may still fail ConnectTokens' own claim checks (sub, jti, lifetime).
      if (through !== wanted && !(wanted === 'ok' && through === 'token_invalid')) {
        mismatches.push(`ConnectTokens ${where}: wanted ${wanted}, got ${through}`)
      }
    }

    t.comment(JSON.stringify([...seen].sort()))
    t.same(mismatches.slice(0, 20), [], `${cases.length} tokens, no disagreement`)
    t.ok(cases.length > 2000, `${cases.length} tokens`)
    // The corpus must keep reaching every outcome (a generator that degenerated would pass).
    const reached = [
      'ok',
      'ERR_JWS_INVALID',
      'ERR_JOSE_ALG_NOT_ALLOWED',
      'ERR_JOSE_NOT_SUPPORTED',
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      'ERR_JWT_INVALID',
      'ERR_JWT_EXPIRED:exp',
      'ERR_JWT_EXPIRED:iat',
      'ERR_JWT_CLAIM_VALIDATION_FAILED:typ',
      'ERR_JWT_CLAIM_VALIDATION_FAILED:iss',
      'ERR_JWT_CLAIM_VALIDATION_FAILED:aud',
      'ERR_JWT_CLAIM_VALIDATION_FAILED:iat',
      'ERR_JWT_CLAIM_VALIDATION_FAILED:nbf',
      'ERR_JWT_CLAIM_VALIDATION_FAILED:exp',
      'ERR_JWT_CLAIM_VALIDATION_FAILED:sub',
      'ERR_JWT_CLAIM_VALIDATION_FAILED:jti',
    ]
    for (const outcome of reached) {
      t.ok((seen.get(outcome) ?? 0) >= 3, `reached ${outcome} (${seen.get(outcome) ?? 0} times)`)
    }
    t.ok((seen.get('ok') ?? 0) > 200, `${seen.get('ok')} valid tokens`)
    t.ok(stricterCount > 50, `${stricterCount} tokens in the stricter set`)
    t.ok(
      stricterJoseAccepted > 10,
      `${stricterJoseAccepted} of them accepted by jose, refused here`,
    )
  })
}
