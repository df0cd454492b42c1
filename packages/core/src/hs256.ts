/**
 * Synchronous HS256 verification of connect tokens on `node:crypto`, and the secrets it uses.
 *
 * This module owns: reading the `tokens.secret` option (one secret or a list, for rotation),
 * making one HMAC `KeyObject` per secret, strict compact-JWS parsing, the signature comparison
 * and the JWT claim checks. The claim checks follow the options `ConnectTokens` gives `jose`'s
 * `jwtVerify` for key pairs and key sets, in the same order, and failures are the same `jose`
 * error classes (codes, `claim`, `reason`, `payload`), so `ConnectTokens` maps both paths to the
 * same `UnauthorizedError`. No error carries the token or anything decoded from it except the
 * parsed claims, as with `jose`.
 *
 * Stricter than `jose` on encoding: base64url without padding, whitespace or non-zero trailing
 * bits (so a signature has exactly one spelling), no `crit` header and no `b64: false`. Those
 * tokens are always refused as invalid (a `jose` error that maps to `token_invalid`) where
 * `jose` may accept them, or call one `token_expired`; no token `jose` refuses is accepted here
 * (`test/hs256.differential.test.ts`).
 *
 * @module
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { errors } from 'jose'
import type { JWTPayload } from 'jose'

/** One HS256 secret: a string counts in UTF-8 bytes. */
export type Hs256Secret = string | Uint8Array

/**
 * The `tokens.secret` option: one secret, or several during a rotation. Tokens are signed with
 * the first; a token signed with any listed secret verifies.
 */
export type Hs256Secrets = Hs256Secret | readonly Hs256Secret[]

/** Every secret must have at least this many bytes. */
export const MIN_SECRET_BYTES = 32

/** What a token must satisfy besides its signature; the names are `jose`'s `JWTVerifyOptions`. */
export interface Hs256VerifyOptions {
  /** The required `iss`. */
  readonly issuer: string
  /** The audience that `aud` (a string or an array of strings) must contain. */
  readonly audience: string
  /** The required `typ` header, compared as a media type (case-insensitive, `application/`). */
  readonly typ: string
  /** Claims that must be present (`iss`, `aud` and `iat` always are). */
  readonly requiredClaims: readonly string[]
  /** Seconds of skew allowed for `exp`, `nbf` and `iat`. */
  readonly clockTolerance: number
  /** The oldest `iat` accepted, in seconds before now (an `iat` in the future is refused too). */
  readonly maxTokenAge: number
}

/** HMAC-SHA256 digests are 32 bytes. */
const SIGNATURE_BYTES = 32
/** A `Date` holds at most this many milliseconds from the epoch either way. */
const MAX_DATE_MS = 8.64e15
const BASE64URL = /^[A-Za-z0-9_-]*$/
const NON_ASCII = /[\u0080-\uffff]/
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** Fatal on malformed UTF-8; like `jose`'s decoder it drops a leading byte order mark. */
const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads the `tokens.secret` option into byte arrays (copies), each checked for length.
 * @throws TypeError naming the option (`tokens.secret`, or `tokens.secret[1]` in a list).
 */
export function hs256Secrets(value: unknown): Uint8Array[] {
  if (!Array.isArray(value)) return [secretBytes('tokens.secret', value)]
  if (value.length === 0) throw new TypeError('tokens.secret must not be an empty list')
  return value.map((secret: unknown, index) => secretBytes(`tokens.secret[${index}]`, secret))
}

function secretBytes(name: string, secret: unknown): Uint8Array {
  let bytes: Uint8Array
  if (typeof secret === 'string') bytes = new TextEncoder().encode(secret)
  else if (secret instanceof Uint8Array) bytes = new Uint8Array(secret)
  else throw new TypeError(`${name} must be a string or a Uint8Array`)
  if (bytes.byteLength < MIN_SECRET_BYTES) {
    throw new TypeError(`${name} must be at least ${MIN_SECRET_BYTES} bytes`)
  }
  return bytes
}

/**
 * Verifies HS256 JWTs against one or more secrets, synchronously. Keys are made once, here.
 *
 * ```ts
 * const verifier = new Hs256Verifier(hs256Secrets([current, previous]), options)
 * const claims = verifier.verify(token, Date.now())
 * ```
 */
export class Hs256Verifier {
  readonly #keys: readonly KeyObject[]
  readonly #options: Hs256VerifyOptions
  readonly #typ: string
  /** Presence checks, in the order `jose` makes them. */
  readonly #present: readonly string[]
  #lastHeader: { readonly encoded: string; readonly header: Record<string, unknown> } | undefined

  constructor(secrets: readonly Uint8Array[], options: Hs256VerifyOptions) {
    if (secrets.length === 0) throw new TypeError('Hs256Verifier needs at least one secret')
    this.#keys = secrets.map((secret) => createSecretKey(secret))
    this.#options = { ...options }
    this.#typ = mediaType(options.typ)
    this.#present = [...new Set([...options.requiredClaims, 'iat', 'aud', 'iss'].reverse())]
  }

  /**
   * Returns the claims of a valid token.
   *
   * @param now the current time, epoch milliseconds.
   * @throws one of `jose`'s errors (`JWSInvalid`, `JOSEAlgNotAllowed`, `JOSENotSupported`,
   *   `JWSSignatureVerificationFailed`, `JWTInvalid`, `JWTClaimValidationFailed`, `JWTExpired`),
   *   or a `TypeError` if `now` is not a time.
   */
  verify(token: string, now: number): JWTPayload {
    const parts = token.split('.')
    if (parts.length !== 3) throw new errors.JWSInvalid('a compact JWS has three parts')
    const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string]

    const header = this.#header(encodedHeader)
    // The signing input must be ASCII; its base64url is checked after the signature, so no
    // unauthenticated payload is decoded.
    if (NON_ASCII.test(encodedPayload)) {
      throw new errors.JWSInvalid('the payload is not a base64url string')
    }
    const signature = decode(encodedSignature)
    if (signature === undefined) throw new errors.JWSInvalid('the signature is not base64url')
    const signingInput = token.slice(0, encodedHeader.length + 1 + encodedPayload.length)
    if (!this.#signedByAKey(signingInput, signature)) {
      throw new errors.JWSSignatureVerificationFailed()
    }

    const payloadBytes = decode(encodedPayload)
    if (payloadBytes === undefined) throw new errors.JWSInvalid('the payload is not base64url')
    const claims = jsonObject(payloadBytes)
    if (claims === undefined) throw new errors.JWTInvalid('the claims set is not a JSON object')
    this.#checkClaims(header, claims, epochSeconds(now))
    return claims
  }

  /**
   * The protected header, decoded and checked. Every token of one issuer carries the same one,
   * so the last header that passed is kept with its encoding, and an identical encoding is not
   * decoded again.
   */
  #header(encoded: string): Record<string, unknown> {
    const last = this.#lastHeader
    if (last !== undefined && last.encoded === encoded) return last.header
    const header = jsonObject(decode(encoded))
    if (header === undefined) throw new errors.JWSInvalid('the protected header is not valid')
    checkExtensions(header)
    const { alg } = header
    if (typeof alg !== 'string' || alg === '') {
      throw new errors.JWSInvalid('the "alg" header is missing or not a string')
    }
    if (alg !== 'HS256') throw new errors.JOSEAlgNotAllowed('the "alg" header is not allowed')
    this.#lastHeader = { encoded, header }
    return header
  }

  /** Computes and compares the HMAC of every key, with no early exit. */
  #signedByAKey(signingInput: string, signature: Buffer): boolean {
    if (signature.byteLength !== SIGNATURE_BYTES) return false
    let signed = false
    for (const key of this.#keys) {
      const expected = createHmac('sha256', key).update(signingInput, 'latin1').digest()
      signed = timingSafeEqual(expected, signature) || signed
    }
    return signed
  }

  #checkClaims(header: Record<string, unknown>, claims: JWTPayload, now: number): void {
    const { issuer, audience, clockTolerance: tolerance, maxTokenAge } = this.#options
    if (typeof header.typ !== 'string' || mediaType(header.typ) !== this.#typ) {
      throw failed(claims, 'typ', 'the "typ" header is not the expected one')
    }
    for (const claim of this.#present) {
      if (!Object.hasOwn(claims, claim)) {
        throw new errors.JWTClaimValidationFailed(
          `the "${claim}" claim is missing`,
          claims,
          claim,
          'missing',
        )
      }
    }
    if (claims.iss !== issuer) throw failed(claims, 'iss', 'the "iss" claim is not the issuer')
    const { aud } = claims
    if (
      !(typeof aud === 'string' ? aud === audience : Array.isArray(aud) && aud.includes(audience))
    ) {
      throw failed(claims, 'aud', 'the "aud" claim does not name the audience')
    }

    const iat = numericDate(claims, 'iat')
    const nbf = claims.nbf === undefined ? undefined : numericDate(claims, 'nbf')
    if (nbf !== undefined && nbf > now + tolerance) {
      throw failed(claims, 'nbf', 'the "nbf" claim is in the future')
    }
    const exp = claims.exp === undefined ? undefined : numericDate(claims, 'exp')
    if (exp !== undefined && exp <= now - tolerance) {
      throw new errors.JWTExpired('the "exp" claim is in the past', claims, 'exp', 'check_failed')
    }
    const age = now - iat
    if (age - tolerance > maxTokenAge) {
      throw new errors.JWTExpired('the "iat" claim is too old', claims, 'iat', 'check_failed')
    }
    if (age < -tolerance) throw failed(claims, 'iat', 'the "iat" claim is in the future')
  }
}

/**
 * Strict base64url: the URL alphabet only, no padding, and the unused low bits of the last
 * character zero, so every byte string has exactly one encoding.
 */
function decode(text: string): Buffer | undefined {
  if (!BASE64URL.test(text)) return undefined
  const rest = text.length % 4
  if (rest === 1) return undefined
  if (rest !== 0) {
    const last = ALPHABET.indexOf(text[text.length - 1]!)
    if ((last & (rest === 2 ? 0x0f : 0x03)) !== 0) return undefined
  }
  return Buffer.from(text, 'base64url')
}

/** The JSON object in UTF-8 bytes, or undefined if they are not one. */
function jsonObject(bytes: Uint8Array | undefined): Record<string, unknown> | undefined {
  if (bytes === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(bytes))
  } catch {
    // The parser's message quotes the input: dropped.
    return undefined
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined
}

/**
 * Connect tokens use no JWS extension. A `crit` header is refused with the error `jose` gives
 * for it when it would refuse it, and as invalid when it would accept it (`b64`); `b64: false`
 * (an unencoded payload) is refused even without `crit`.
 */
function checkExtensions(header: Record<string, unknown>): void {
  const { crit } = header
  if (crit !== undefined) {
    if (
      !Array.isArray(crit) ||
      crit.length === 0 ||
      crit.some((name) => typeof name !== 'string' || name === '')
    ) {
      throw new errors.JWSInvalid('the "crit" header must be a non-empty array of names')
    }
    for (const name of crit as string[]) {
      if (name !== 'b64') throw new errors.JOSENotSupported('a "crit" extension is not supported')
    }
    throw new errors.JWSInvalid('connect tokens use no "crit" extension')
  }
  if (header.b64 === false) throw new errors.JWSInvalid('an unencoded payload is not supported')
}

function numericDate(claims: JWTPayload, claim: 'iat' | 'nbf' | 'exp'): number {
  const value = claims[claim]
  if (typeof value !== 'number') {
    throw new errors.JWTClaimValidationFailed(
      `the "${claim}" claim must be a number`,
      claims,
      claim,
      'invalid',
    )
  }
  return value
}

function failed(claims: JWTPayload, claim: string, message: string): Error {
  return new errors.JWTClaimValidationFailed(message, claims, claim, 'check_failed')
}

/** `typ` values compare as media types: case-insensitive, `application/` implied. */
function mediaType(typ: string): string {
  const lower = typ.toLowerCase()
  return typ.includes('/') ? lower : `application/${lower}`
}

/** Whole seconds since the epoch, as `jose` reads a `Date` made from `now`. */
function epochSeconds(now: number): number {
  const ms = Math.trunc(now)
  if (!(Math.abs(ms) <= MAX_DATE_MS)) {
    throw new TypeError('the current time must be epoch milliseconds')
  }
  return Math.floor(ms / 1000)
}
