/**
 * Verifying connect tokens. A {@link SignatureVerifier} checks the signature and the registered
 * claims and answers with the payload (the `jose` one here; another may slot in beside it);
 * {@link readClaims} then turns the payload into a principal, checking every claim it reads.
 *
 * @module
 */
import { ErrorCode } from '@ws-warden/protocol'
import { errors, jwtVerify } from 'jose'
import type { JWTPayload, JWTVerifyOptions } from 'jose'
import { StoreUnavailableError, UnauthorizedError } from '../errors.js'
import { Hs256Verifier } from '../hs256.js'
import type { Principal } from '../types.js'
import { isRecord, isStringArray } from '../validate.js'
import type { VerifyKey } from './keys.js'
import type { TokenSettings, VerifiedToken } from './options.js'
import { CONNECT_TOKEN_TYPE } from './options.js'

/**
 * Checks a token's signature, `typ`, `iss`, `aud` and `exp`/`iat`/`nbf` against `nowMs`, and
 * answers with its payload. Throws `UnauthorizedError` for a bad token and
 * `StoreUnavailableError` when a key source failed; no error carries the token.
 */
export interface SignatureVerifier {
  verify(token: string, nowMs: number): JWTPayload | Promise<JWTPayload>
}

/** Claims every connect token carries. */
export const REQUIRED_CLAIMS = ['exp', 'iat', 'jti', 'sub'] as const

/** Stores keep a consumed `jti` as a key; bound it. */
const MAX_JTI_LENGTH = 255

/** The permissions of a token without any: one frozen array, not one per connection. */
const NO_PERMISSIONS: readonly string[] = Object.freeze([])

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

/** The {@link SignatureVerifier} built on `jose`'s `jwtVerify`, for every key source. */
export class JoseVerifier implements SignatureVerifier {
  readonly #key: VerifyKey
  readonly #jwks: boolean
  readonly #options: JWTVerifyOptions

  constructor(
    key: VerifyKey,
    algorithms: readonly string[],
    jwks: boolean,
    settings: TokenSettings,
  ) {
    this.#key = key
    this.#jwks = jwks
    this.#options = {
      algorithms: [...algorithms],
      issuer: settings.issuer,
      audience: settings.audience,
      typ: CONNECT_TOKEN_TYPE,
      requiredClaims: [...REQUIRED_CLAIMS],
      clockTolerance: settings.clockToleranceSeconds,
      // Also rejects an `iat` in the future (beyond the tolerance).
      maxTokenAge: settings.maxTtlSeconds,
    }
  }

  async verify(token: string, nowMs: number): Promise<JWTPayload> {
    try {
      return await this.#verify(token, { ...this.#options, currentDate: new Date(nowMs) })
    } catch (error) {
      throw joseFailure(error, this.#jwks)
    }
  }

  async #verify(token: string, options: JWTVerifyOptions): Promise<JWTPayload> {
    const key = await this.#key
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
}

/**
 * The {@link SignatureVerifier} for HS256: the synchronous node:crypto verifier of `hs256.ts`
 * (its errors are jose's classes, so they map to the same codes), without a WebCrypto await.
 */
export class Hs256SignatureVerifier implements SignatureVerifier {
  readonly #verifier: Hs256Verifier

  constructor(secrets: readonly Uint8Array[], settings: TokenSettings) {
    this.#verifier = new Hs256Verifier(secrets, {
      issuer: settings.issuer,
      audience: settings.audience,
      typ: CONNECT_TOKEN_TYPE,
      requiredClaims: REQUIRED_CLAIMS,
      clockTolerance: settings.clockToleranceSeconds,
      maxTokenAge: settings.maxTtlSeconds,
    })
  }

  verify(token: string, nowMs: number): JWTPayload {
    try {
      return this.#verifier.verify(token, nowMs)
    } catch (error) {
      throw joseFailure(error, false)
    }
  }
}

/** Maps a verification failure (jose's error classes) to the warden's errors. */
function joseFailure(error: unknown, jwks: boolean): UnauthorizedError | StoreUnavailableError {
  const code = error instanceof errors.JOSEError ? error.code : undefined
  const cause = withoutNestedError(error)
  if (code === 'ERR_JWT_EXPIRED') {
    return new UnauthorizedError(ErrorCode.TokenExpired, 'token expired', { cause })
  }
  if (code === 'ERR_JWKS_TIMEOUT') {
    return new StoreUnavailableError('jwks', 'JSON Web Key Set request timed out', { cause })
  }
  if ((code !== undefined && TOKEN_FAULTS.has(code)) || !jwks) {
    return new UnauthorizedError(ErrorCode.TokenInvalid, 'token invalid', { cause })
  }
  // The key set could not be fetched or read (HTTP error, network error, bad JWKS).
  return new StoreUnavailableError('jwks', 'JSON Web Key Set unavailable', { cause })
}

/**
 * Reads a verified payload into what the core uses, checking the shape of every claim it reads
 * and the lifetime (`exp - iat`, at most `maxTtlSeconds`). `exp` and `iat` must be present
 * numbers (every {@link SignatureVerifier} requires them).
 */
export function readClaims(payload: JWTPayload, maxTtlSeconds: number): VerifiedToken {
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
  if ((exp as number) - (iat as number) > maxTtlSeconds) {
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
    permissions: perm === undefined || perm.length === 0 ? NO_PERMISSIONS : perm,
    ...(ch === undefined ? {} : { channels: ch }),
    ...(ext === undefined ? {} : { claims: ext }),
  }
  return { principal, jti, expiresAt: (exp as number) * 1000 }
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
