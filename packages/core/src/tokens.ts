/**
 * Connect tokens: short-lived JWTs that a token endpoint issues to an already-authenticated HTTP
 * user and that the WebSocket upgrade verifies. {@link ConnectTokens} ties together the options
 * (`tokens/options.ts`), the keys (`tokens/keys.ts`), issuing (`tokens/issue.ts`) and
 * verification (`tokens/verify.ts`). Single use is the token store's job
 * (`TokenStore.consume(jti)`), after verification. Nothing here logs.
 *
 * @module
 */
import { ErrorCode } from '@ws-warden/protocol'
import { errors } from 'jose'
import { UnauthorizedError } from './errors.js'
import { issueToken } from './tokens/issue.js'
import type { SigningKey } from './tokens/keys.js'
import { resolveKeys } from './tokens/keys.js'
import type {
  IssuedToken,
  IssueOptions,
  TokenOptions,
  TokenSettings,
  VerifiedToken,
} from './tokens/options.js'
import { resolveTokenSettings, ttl } from './tokens/options.js'
import type { SignatureVerifier } from './tokens/verify.js'
import { Hs256SignatureVerifier, JoseVerifier, readClaims } from './tokens/verify.js'
import type { Clock, Principal } from './types.js'
import { systemClock } from './validate.js'

export { CONNECT_TOKEN_TYPE } from './tokens/options.js'
export type {
  CommonTokenOptions,
  IssuedToken,
  IssueOptions,
  JwksAlgorithm,
  JwksTokenOptions,
  KeyPairTokenOptions,
  SecretTokenOptions,
  TokenOptions,
  VerifiedToken,
} from './tokens/options.js'
export { timingSafeEqualStrings } from './timing-safe.js'

/** Longer input is rejected before it is decoded; a connect token is a few hundred bytes. */
const MAX_TOKEN_LENGTH = 8192

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
  readonly #settings: TokenSettings
  readonly #signing: SigningKey | undefined
  readonly #verifier: SignatureVerifier

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
    this.#settings = resolveTokenSettings(options)
    const keys = resolveKeys(options)
    this.#signing = keys.signing
    this.#verifier =
      keys.secrets === undefined
        ? new JoseVerifier(keys.verifyKey, keys.algorithms, keys.jwks, this.#settings)
        : new Hs256SignatureVerifier(keys.secrets, this.#settings)
  }

  /**
   * True if {@link verifyNow} answers synchronously (an HS256 secret); key pairs and key sets
   * answer with a promise.
   */
  get verifiesNow(): boolean {
    return this.#verifier instanceof Hs256SignatureVerifier
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
    const { issuer, audience, ttlSeconds, maxTtlSeconds } = this.#settings
    const seconds = ttl('ttlSeconds', options.ttlSeconds, ttlSeconds, maxTtlSeconds)
    return issueToken(
      { signing: this.#signing, issuer, audience },
      principal,
      seconds,
      this.#clock.now(),
    )
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
    return this.verifyNow(token)
  }

  /**
   * {@link verify}, answered in this tick where it can be: a secret's HS256 token is checked
   * synchronously and its claims returned; a key pair or key set answers with a promise. Throws
   * (or rejects with) what `verify` rejects with.
   */
  verifyNow(token: string): VerifiedToken | Promise<VerifiedToken> {
    if (typeof token !== 'string' || token === '') {
      throw new UnauthorizedError(ErrorCode.TokenMissing, 'token missing')
    }
    if (token.length > MAX_TOKEN_LENGTH) {
      throw new UnauthorizedError(ErrorCode.TokenInvalid, 'token invalid', {
        cause: new errors.JWTInvalid(`token longer than ${MAX_TOKEN_LENGTH} characters`),
      })
    }
    const payload = this.#verifier.verify(token, this.#clock.now())
    const { maxTtlSeconds } = this.#settings
    return payload instanceof Promise
      ? payload.then((claims) => readClaims(claims, maxTtlSeconds))
      : readClaims(payload, maxTtlSeconds)
  }
}
