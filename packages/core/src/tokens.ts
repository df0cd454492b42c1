/**
 * Connect tokens: short-lived JWTs that a token endpoint issues to an already-authenticated HTTP
 * user and that the WebSocket upgrade verifies. This module signs and verifies; single use is the
 * token store's job (`TokenStore.consume(jti)`), after verification. It never logs.
 */
import {
  createHmac,
  KeyObject,
  randomBytes,
  randomUUID,
  timingSafeEqual,
  webcrypto,
} from 'node:crypto'
import { ErrorCode } from '@ws-warden/protocol'
import { errors, jwtVerify, SignJWT } from 'jose'
import type { CryptoKey, JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose'
import { StoreUnavailableError, UnauthorizedError } from './errors.js'
import { Hs256Verifier, hs256Secrets } from './hs256.js'
import type { Hs256Secrets } from './hs256.js'
import type { Clock, Principal } from './types.js'

/**
 * The `typ` header of a connect token. Verification requires it, so an access or ID token from
 * the same issuer and keys cannot be replayed as a connect token (RFC 8725 §3.11). An external
 * issuer used through {@link JwksTokenOptions} must set it too.
 */
export const CONNECT_TOKEN_TYPE = 'ws-connect+jwt'

/** Asymmetric algorithms a {@link JwksTokenOptions} verifier may accept. */
export type JwksAlgorithm =
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'
  | 'Ed25519'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'

/** Options shared by every kind of {@link TokenOptions}. */
export interface CommonTokenOptions {
  /**
   * The `iss` claim written on issue and required on verify.
   * @default 'ws-warden'
   */
  readonly issuer?: string | undefined
  /**
   * The `aud` claim written on issue and required on verify.
   * @default 'ws-warden'
   */
  readonly audience?: string | undefined
  /**
   * Lifetime of an issued token, in seconds. Keep it short: a token is fetched right before
   * connecting and used once.
   * @default 60
   */
  readonly ttlSeconds?: number | undefined
  /**
   * Allowed clock skew between issuer and verifier, in seconds, for `exp`, `nbf` and `iat`.
   * @default 5
   */
  readonly clockToleranceSeconds?: number | undefined
  /**
   * The longest lifetime (`exp - iat`) a token may have, on issue and on verify. It bounds how
   * long a consumed `jti` must be remembered.
   * @default 3600
   */
  readonly maxTtlSeconds?: number | undefined
}

/** Sign and verify with a shared secret (HS256). */
export interface SecretTokenOptions extends CommonTokenOptions {
  /**
   * At least 32 bytes (a string counts in UTF-8 bytes). Generate it; don't pick it.
   *
   * To rotate, give a list: tokens are signed with the first secret and a token signed with any
   * listed one verifies. Deploy `[old, new]`, then `[new, old]`, then (`maxTtlSeconds` plus the
   * clock tolerance later) `[new]` (README, "Rotating the HS256 secret"). Every listed secret
   * costs one HMAC on every verification, valid token or not.
   */
  readonly secret: Hs256Secrets
}

/**
 * Sign with a private key and verify with its public key. Without `privateKey` the instance only
 * verifies (tokens come from another service holding the private key).
 */
export interface KeyPairTokenOptions extends CommonTokenOptions {
  readonly algorithm: 'ES256' | 'EdDSA'
  /** An EC P-256 key for ES256, an Ed25519 key for EdDSA, with the `verify` usage if a CryptoKey. */
  readonly publicKey: CryptoKey | KeyObject
  /** The matching private key, with the `sign` usage if a CryptoKey. */
  readonly privateKey?: CryptoKey | KeyObject | undefined
}

/**
 * Verify only, with keys from a JSON Web Key Set (`createRemoteJWKSet` or `createLocalJWKSet`
 * from `jose`), for tokens issued by another service. Errors thrown by `jwks` become the `cause`
 * of the error `verify` throws; `jose`'s own never contain the token.
 */
export interface JwksTokenOptions extends CommonTokenOptions {
  readonly jwks: JWTVerifyGetKey
  /** The algorithms accepted; a token whose `alg` is not listed is rejected before any key lookup. */
  readonly algorithms: readonly JwksAlgorithm[]
}

/** How {@link ConnectTokens} signs and verifies. Exactly one of `secret`, `publicKey`, `jwks`. */
export type TokenOptions = SecretTokenOptions | KeyPairTokenOptions | JwksTokenOptions

/** Options of {@link ConnectTokens.issue}. */
export interface IssueOptions {
  /**
   * Lifetime of this token in seconds, at most `maxTtlSeconds`.
   * @default the instance's `ttlSeconds`
   */
  readonly ttlSeconds?: number | undefined
}

/** An issued connect token, ready for a token endpoint's JSON answer. */
export interface IssuedToken {
  /** The compact JWT. A credential: never log it. */
  readonly token: string
  /** The token's unique id, consumed once on connect. Safe to log. */
  readonly jti: string
  /** When the token expires, epoch milliseconds. */
  readonly expiresAt: number
  /** The token's lifetime in seconds (like OAuth's `expires_in`). */
  readonly expiresIn: number
}

/** What a valid connect token says. */
export interface VerifiedToken {
  readonly principal: Principal
  readonly jti: string
  /** When the token expires, epoch milliseconds. */
  readonly expiresAt: number
}

const DEFAULT_ISSUER = 'ws-warden'
const DEFAULT_AUDIENCE = 'ws-warden'
const DEFAULT_TTL_SECONDS = 60
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5
const DEFAULT_MAX_TTL_SECONDS = 3600
const REQUIRED_CLAIMS = ['exp', 'iat', 'jti', 'sub'] as const
/** Longer input is rejected before it is decoded; a connect token is a few hundred bytes. */
const MAX_TOKEN_LENGTH = 8192
/** Stores keep a consumed `jti` as a key; bound it. */
const MAX_JTI_LENGTH = 255

const JWKS_ALGORITHMS: ReadonlySet<string> = new Set<JwksAlgorithm>([
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
])

/** `jose` error codes that mean the token is bad, as opposed to a key source that failed. */
const TOKEN_FAULTS: ReadonlySet<string> = new Set([
  'ERR_JWS_INVALID',
  'ERR_JWT_INVALID',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWKS_NO_MATCHING_KEY',
])

const systemClock: Clock = { now: () => Date.now() }

type VerifyKey = CryptoKey | KeyObject | JWTVerifyGetKey

/**
 * Issues and verifies single-use connect tokens (JWTs signed with `jose`).
 *
 * A token's protected header is `{ alg, typ: 'ws-connect+jwt' }`; its claims are `sub` (the user
 * id), `perm` (permissions), `ch` (channels, if any), `ext` (the principal's other claims, if
 * any), `jti`, `iat`, `exp`, `iss` and `aud`. Keys are imported once, here; verification does no
 * key import.
 *
 * ```ts
 * const tokens = new ConnectTokens({ secret: process.env.WS_TOKEN_SECRET! })
 * const { token, expiresIn } = await tokens.issue({ userId: 'u1', permissions: ['chat'] })
 * const { principal, jti, expiresAt } = await tokens.verify(token)
 * ```
 */
export class ConnectTokens {
  readonly #clock: Clock
  readonly #issuer: string
  readonly #audience: string
  readonly #ttlSeconds: number
  readonly #maxTtlSeconds: number
  readonly #jwks: boolean
  readonly #verifyKey: VerifyKey | Promise<CryptoKey>
  readonly #signing:
    { readonly alg: string; readonly key: Promise<CryptoKey> | CryptoKey | KeyObject } | undefined
  readonly #verifyOptions: JWTVerifyOptions
  /** HS256 verifies synchronously on node:crypto, with the same checks as `#verifyOptions`. */
  readonly #hs256: Hs256Verifier | undefined

  /**
   * @param options exactly one of `secret`, `publicKey` (with `algorithm`) or `jwks` (with
   *   `algorithms`), and the common options.
   * @param clock where the time is read, for `iat`/`exp` and their checks.
   * @throws TypeError naming the option when one is missing or not valid.
   */
  constructor(options: TokenOptions, clock: Clock = systemClock) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('tokens options must be an object')
    }
    if (typeof clock?.now !== 'function') throw new TypeError('clock.now must be a function')
    this.#clock = clock
    this.#issuer = nonEmptyString('tokens.issuer', options.issuer, DEFAULT_ISSUER)
    this.#audience = nonEmptyString('tokens.audience', options.audience, DEFAULT_AUDIENCE)
    this.#maxTtlSeconds = positiveInteger(
      'tokens.maxTtlSeconds',
      options.maxTtlSeconds,
      DEFAULT_MAX_TTL_SECONDS,
    )
    this.#ttlSeconds = ttl(
      'tokens.ttlSeconds',
      options.ttlSeconds,
      DEFAULT_TTL_SECONDS,
      this.#maxTtlSeconds,
    )
    const clockTolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS
    if (!Number.isSafeInteger(clockTolerance) || clockTolerance < 0) {
      throw new TypeError('tokens.clockToleranceSeconds must be a non-negative integer')
    }

    const given = (['secret', 'publicKey', 'jwks'] as const).filter(
      (name) => (options as unknown as Record<string, unknown>)[name] !== undefined,
    )
    if (given.length !== 1) {
      throw new TypeError(
        'tokens needs exactly one of secret (HS256), publicKey (with algorithm) or jwks ' +
          `(with algorithms); got ${given.length === 0 ? 'none' : given.join(' and ')}`,
      )
    }
    let algorithms: string[]
    let hs256: Uint8Array[] | undefined
    if (given[0] === 'secret') {
      const { secret } = options as SecretTokenOptions
      const algorithm: unknown = (options as Partial<KeyPairTokenOptions>).algorithm
      if (algorithm !== undefined && algorithm !== 'HS256') {
        throw new TypeError('tokens.algorithm must be HS256 (or left out) with tokens.secret')
      }
      const secrets = hs256Secrets(secret)
      const key = importHmacKey(secrets[0]!)
      hs256 = secrets
      algorithms = ['HS256']
      this.#jwks = false
      this.#verifyKey = key
      this.#signing = { alg: 'HS256', key }
    } else if (given[0] === 'publicKey') {
      const { algorithm, publicKey, privateKey } = options as KeyPairTokenOptions
      if (algorithm !== 'ES256' && algorithm !== 'EdDSA') {
        throw new TypeError('tokens.algorithm must be ES256 or EdDSA with tokens.publicKey')
      }
      algorithms = [algorithm]
      this.#jwks = false
      this.#verifyKey = checkKey('tokens.publicKey', publicKey, algorithm, 'public')
      this.#signing =
        privateKey === undefined
          ? undefined
          : { alg: algorithm, key: checkKey('tokens.privateKey', privateKey, algorithm, 'private') }
    } else {
      const { jwks, algorithms: accepted } = options as JwksTokenOptions
      if (typeof jwks !== 'function') {
        throw new TypeError(
          'tokens.jwks must be a key set function (createRemoteJWKSet or createLocalJWKSet)',
        )
      }
      if (
        !Array.isArray(accepted) ||
        accepted.length === 0 ||
        !accepted.every((alg: unknown) => typeof alg === 'string' && JWKS_ALGORITHMS.has(alg))
      ) {
        throw new TypeError(
          `tokens.algorithms must be a non-empty array of ${[...JWKS_ALGORITHMS].join(', ')}`,
        )
      }
      algorithms = [...accepted]
      this.#jwks = true
      this.#verifyKey = jwks
      this.#signing = undefined
    }

    this.#verifyOptions = {
      algorithms,
      issuer: this.#issuer,
      audience: this.#audience,
      typ: CONNECT_TOKEN_TYPE,
      requiredClaims: [...REQUIRED_CLAIMS],
      clockTolerance,
      // Also rejects an `iat` in the future (beyond the tolerance).
      maxTokenAge: this.#maxTtlSeconds,
    }
    this.#hs256 =
      hs256 &&
      new Hs256Verifier(hs256, {
        issuer: this.#issuer,
        audience: this.#audience,
        typ: CONNECT_TOKEN_TYPE,
        requiredClaims: REQUIRED_CLAIMS,
        clockTolerance,
        maxTokenAge: this.#maxTtlSeconds,
      })
  }

  /** True if this instance holds a signing key (a secret or a private key). */
  get canIssue(): boolean {
    return this.#signing !== undefined
  }

  /**
   * Issues a token for a principal. `principal.claims` travel in the `ext` claim, so they can
   * never override a reserved claim; keep them small and JSON-serialisable.
   *
   * @throws TypeError if this instance only verifies, if `ttlSeconds` is not a positive integer
   *   up to `maxTtlSeconds`, or if the principal is malformed.
   */
  async issue(principal: Principal, options: IssueOptions = {}): Promise<IssuedToken> {
    if (this.#signing === undefined) {
      throw new TypeError(
        'this ConnectTokens instance only verifies: configure tokens.secret or tokens.privateKey to issue',
      )
    }
    const ttlSeconds = ttl('ttlSeconds', options.ttlSeconds, this.#ttlSeconds, this.#maxTtlSeconds)
    checkPrincipal(principal)
    const claims: JWTPayload = { perm: [...principal.permissions] }
    if (principal.channels !== undefined) claims.ch = [...principal.channels]
    if (principal.claims !== undefined && Object.keys(principal.claims).length > 0) {
      claims.ext = { ...principal.claims }
    }
    const iat = Math.floor(this.#clock.now() / 1000)
    const exp = iat + ttlSeconds
    const jti = randomUUID()
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: this.#signing.alg, typ: CONNECT_TOKEN_TYPE })
      .setSubject(principal.userId)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setIssuer(this.#issuer)
      .setAudience(this.#audience)
      .sign(await this.#signing.key)
    return { token, jti, expiresAt: exp * 1000, expiresIn: ttlSeconds }
  }

  /**
   * Verifies a connect token: signature with an explicit algorithm allow-list, `typ`, `iss`,
   * `aud`, `exp`/`iat`/`nbf` against the clock (with the tolerance), lifetime at most
   * `maxTtlSeconds`, and the shape of every claim it reads. It does not consume the `jti`.
   *
   * @throws UnauthorizedError `token_missing` for a missing or empty token, `token_expired` for
   *   an expired one, `token_invalid` for anything else wrong with it.
   * @throws StoreUnavailableError (`jwks`) when a JSON Web Key Set could not be fetched.
   *
   * No error's message or `cause` contains the token.
   */
  async verify(token: string): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token === '') {
      throw new UnauthorizedError(ErrorCode.TokenMissing, 'token missing')
    }
    if (token.length > MAX_TOKEN_LENGTH) {
      throw new UnauthorizedError(ErrorCode.TokenInvalid, 'token invalid', {
        cause: new errors.JWTInvalid(`token longer than ${MAX_TOKEN_LENGTH} characters`),
      })
    }
    let payload: JWTPayload
    try {
      payload =
        this.#hs256 !== undefined
          ? this.#hs256.verify(token, this.#clock.now())
          : await this.#verifySignatureAndClaims(token, {
              ...this.#verifyOptions,
              currentDate: new Date(this.#clock.now()),
            })
    } catch (error) {
      throw this.#failure(error)
    }
    return this.#read(payload)
  }

  async #verifySignatureAndClaims(token: string, options: JWTVerifyOptions): Promise<JWTPayload> {
    const key = await this.#verifyKey
    try {
      return (await jwtVerify(token, key, options)).payload
    } catch (error) {
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error
      // A token without `kid` and a key set with several candidates (during a rotation): try
      // each, as jose documents.
      for await (const candidate of error) {
        try {
          return (await jwtVerify(token, candidate, options)).payload
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner
        }
      }
      throw new errors.JWSSignatureVerificationFailed()
    }
  }

  #failure(error: unknown): UnauthorizedError | StoreUnavailableError {
    const code = error instanceof errors.JOSEError ? error.code : undefined
    const cause = withoutNestedError(error)
    if (code === 'ERR_JWT_EXPIRED') {
      return new UnauthorizedError(ErrorCode.TokenExpired, 'token expired', { cause })
    }
    if (code === 'ERR_JWKS_TIMEOUT') {
      return new StoreUnavailableError('jwks', 'JSON Web Key Set request timed out', { cause })
    }
    if ((code !== undefined && TOKEN_FAULTS.has(code)) || !this.#jwks) {
      return new UnauthorizedError(ErrorCode.TokenInvalid, 'token invalid', { cause })
    }
    // The key set could not be fetched or read (HTTP error, network error, bad JWKS).
    return new StoreUnavailableError('jwks', 'JSON Web Key Set unavailable', { cause })
  }

  #read(payload: JWTPayload): VerifiedToken {
    const { sub, jti, exp, iat, perm, ch, ext } = payload
    if (typeof sub !== 'string' || sub === '') {
      throw invalidClaim(payload, 'sub', '"sub" claim must be a non-empty string')
    }
    if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) {
      throw invalidClaim(
        payload,
        'jti',
        `"jti" claim must be a string of 1 to ${MAX_JTI_LENGTH} characters`,
      )
    }
    // jose has checked that exp and iat are present numbers.
    if ((exp as number) - (iat as number) > this.#maxTtlSeconds) {
      throw invalidClaim(payload, 'exp', 'token lifetime is longer than tokens.maxTtlSeconds')
    }
    if (perm !== undefined && !isStringArray(perm)) {
      throw invalidClaim(payload, 'perm', '"perm" claim must be an array of strings')
    }
    if (ch !== undefined && !isStringArray(ch)) {
      throw invalidClaim(payload, 'ch', '"ch" claim must be an array of strings')
    }
    if (ext !== undefined && !isRecord(ext)) {
      throw invalidClaim(payload, 'ext', '"ext" claim must be an object')
    }
    const principal: Principal = {
      userId: sub,
      permissions: perm ?? [],
      ...(ch === undefined ? {} : { channels: ch }),
      ...(ext === undefined ? {} : { claims: ext }),
    }
    return { principal, jti, expiresAt: (exp as number) * 1000 }
  }
}

const comparisonKey = randomBytes(32)

/**
 * Compares two strings in time that depends on neither their contents nor their lengths: both
 * are HMAC'd with a per-process random key and the digests compared with `timingSafeEqual`. For
 * opaque credentials (API keys, resume tokens); JWT signatures are compared in `hs256.ts` (HS256)
 * and inside `jose`.
 */
export function timingSafeEqualStrings(a: string, b: string): boolean {
  // UTF-16 code units, so two strings that differ only in lone surrogates stay different.
  const digestA = createHmac('sha256', comparisonKey).update(a, 'utf16le').digest()
  const digestB = createHmac('sha256', comparisonKey).update(b, 'utf16le').digest()
  return timingSafeEqual(digestA, digestB)
}

function nonEmptyString(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || value === '')
    throw new TypeError(`${name} must be a non-empty string`)
  return value
}

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    throw new TypeError(`${name} must be a positive integer`)
  }
  return value as number
}

function ttl(name: string, value: unknown, fallback: number, max: number): number {
  const seconds = positiveInteger(name, value, fallback)
  if (seconds > max) {
    throw new TypeError(`${name} must be at most tokens.maxTtlSeconds (${max}); got ${seconds}`)
  }
  return seconds
}

function importHmacKey(bytes: Uint8Array): Promise<CryptoKey> {
  // Cannot reject: the algorithm is fixed and the bytes are checked.
  return webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ])
}

/** Checks a key for an algorithm and a use, at construction rather than at the first token. */
function checkKey(
  name: string,
  value: unknown,
  algorithm: 'ES256' | 'EdDSA',
  type: 'public' | 'private',
): CryptoKey | KeyObject {
  let keyObject: KeyObject
  let usages: readonly string[] | undefined
  if (value instanceof KeyObject) {
    keyObject = value
  } else {
    try {
      keyObject = KeyObject.from(value as webcrypto.CryptoKey)
    } catch {
      throw new TypeError(`${name} must be a CryptoKey or a KeyObject`)
    }
    usages = (value as webcrypto.CryptoKey).usages
  }
  if (keyObject.type !== type) throw new TypeError(`${name} must be a ${type} key`)
  const matches =
    algorithm === 'ES256'
      ? keyObject.asymmetricKeyType === 'ec' &&
        keyObject.asymmetricKeyDetails?.namedCurve === 'prime256v1'
      : keyObject.asymmetricKeyType === 'ed25519'
  if (!matches) {
    throw new TypeError(
      `${name} must be ${algorithm === 'ES256' ? 'an EC P-256' : 'an Ed25519'} key for ${algorithm}`,
    )
  }
  const usage = type === 'public' ? 'verify' : 'sign'
  if (usages !== undefined && !usages.includes(usage)) {
    throw new TypeError(`${name} must be a CryptoKey with the '${usage}' usage`)
  }
  return value as CryptoKey | KeyObject
}

function checkPrincipal(principal: Principal): void {
  if (typeof principal !== 'object' || principal === null) {
    throw new TypeError('principal must be an object')
  }
  if (typeof principal.userId !== 'string' || principal.userId === '') {
    throw new TypeError('principal.userId must be a non-empty string')
  }
  if (!isStringArray(principal.permissions)) {
    throw new TypeError('principal.permissions must be an array of strings')
  }
  if (principal.channels !== undefined && !isStringArray(principal.channels)) {
    throw new TypeError('principal.channels must be an array of strings')
  }
  if (principal.claims !== undefined && !isRecord(principal.claims)) {
    throw new TypeError('principal.claims must be an object')
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string')
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A token rejected by the checks made here; the cause reads like jose's own claim errors. */
function invalidClaim(payload: JWTPayload, claim: string, message: string): UnauthorizedError {
  return new UnauthorizedError(ErrorCode.TokenInvalid, 'token invalid', {
    cause: new errors.JWTClaimValidationFailed(message, payload, claim, 'invalid'),
  })
}

/**
 * A jose error keeps what it wraps as `cause`: a JSON or base64 parse error quoting decoded
 * token bytes, a Web Crypto error. Drop it so nothing derived from the token reaches a log. The
 * claim-validation record (`{ claim, reason, payload }`) is not an Error and stays.
 */
function withoutNestedError(error: unknown): unknown {
  if (error instanceof errors.JOSEError && error.cause instanceof Error) delete error.cause
  return error
}
