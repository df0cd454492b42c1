/**
 * Issuing connect tokens: signs a principal's claims with `jose` (`SignJWT`) under the
 * `ws-connect+jwt` type, after checking the principal's shape.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import type { JWTPayload } from 'jose'
import type { Principal } from '../types.js'
import { isRecord, isStringArray } from '../validate.js'
import type { SigningKey } from './keys.js'
import type { IssuedToken } from './options.js'
import { CONNECT_TOKEN_TYPE } from './options.js'

/** Where a token is issued from: the key, the claims every token carries. */
export interface IssuerSettings {
  readonly signing: SigningKey
  readonly issuer: string
  readonly audience: string
}

/**
 * Signs a token for a principal, valid `ttlSeconds` from `nowMs`. `principal.claims` travel in
 * the `ext` claim, so they can never override a reserved claim.
 *
 * @throws TypeError if the principal is malformed.
 */
export async function issueToken(
  settings: IssuerSettings,
  principal: Principal,
  ttlSeconds: number,
  nowMs: number,
): Promise<IssuedToken> {
  checkPrincipal(principal)
  const claims: JWTPayload = { perm: [...principal.permissions] }
  if (principal.channels !== undefined) claims.ch = [...principal.channels]
  if (principal.claims !== undefined && Object.keys(principal.claims).length > 0) {
    claims.ext = { ...principal.claims }
  }
  const iat = Math.floor(nowMs / 1000)
  const exp = iat + ttlSeconds
  const jti = randomUUID()
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: settings.signing.alg, typ: CONNECT_TOKEN_TYPE })
    .setSubject(principal.userId)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .sign(await settings.signing.key)
  return { token, jti, expiresAt: exp * 1000, expiresIn: ttlSeconds }
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
