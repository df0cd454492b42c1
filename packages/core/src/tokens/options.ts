/**
 * What a connect token is configured with: the option types, their defaults, and the reading of
 * the options common to every kind (issuer, audience, lifetimes, clock tolerance).
 *
 * @module
 */
import type { Hs256Secrets } from '../hs256.js'
import type { CryptoKey, JWTVerifyGetKey } from 'jose'
import type { KeyObject } from 'node:crypto'
import type { Principal } from '../types.js'
import { isNonEmptyString, isPositiveSafeInteger } from '../validate.js'

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

/** The common options with their defaults applied. */
export interface TokenSettings {
  readonly issuer: string
  readonly audience: string
  readonly ttlSeconds: number
  readonly maxTtlSeconds: number
  readonly clockToleranceSeconds: number
}

const DEFAULT_ISSUER = 'ws-warden'
const DEFAULT_AUDIENCE = 'ws-warden'
const DEFAULT_TTL_SECONDS = 60
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5
const DEFAULT_MAX_TTL_SECONDS = 3600

/** Reads the options common to every kind; throws a `TypeError` naming a bad one. */
export function resolveTokenSettings(options: CommonTokenOptions): TokenSettings {
  const issuer = nonEmptyString('tokens.issuer', options.issuer, DEFAULT_ISSUER)
  const audience = nonEmptyString('tokens.audience', options.audience, DEFAULT_AUDIENCE)
  const maxTtlSeconds = positiveSeconds(
    'tokens.maxTtlSeconds',
    options.maxTtlSeconds,
    DEFAULT_MAX_TTL_SECONDS,
  )
  const ttlSeconds = ttl(
    'tokens.ttlSeconds',
    options.ttlSeconds,
    DEFAULT_TTL_SECONDS,
    maxTtlSeconds,
  )
  const clockToleranceSeconds = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS
  if (!Number.isSafeInteger(clockToleranceSeconds) || clockToleranceSeconds < 0) {
    throw new TypeError('tokens.clockToleranceSeconds must be a non-negative integer')
  }
  return { issuer, audience, ttlSeconds, maxTtlSeconds, clockToleranceSeconds }
}

/** A token lifetime in seconds: a positive integer up to `max`, or `fallback` when undefined. */
export function ttl(name: string, value: unknown, fallback: number, max: number): number {
  const seconds = positiveSeconds(name, value, fallback)
  if (seconds > max) {
    throw new TypeError(`${name} must be at most tokens.maxTtlSeconds (${max}); got ${seconds}`)
  }
  return seconds
}

function nonEmptyString(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback
  if (!isNonEmptyString(value)) throw new TypeError(`${name} must be a non-empty string`)
  return value
}

function positiveSeconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (!isPositiveSafeInteger(value)) throw new TypeError(`${name} must be a positive integer`)
  return value
}
