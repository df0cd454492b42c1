/**
 * The token endpoint without a framework: the adapter authenticates the request its own way and
 * hands over the principal; this returns the answer to write (`200 {token, expiresIn}`, never
 * cached, or `401 {error: 'unauthorized'}`).
 *
 * @module
 */
import type { Principal } from '../types.js'
import type { Warden } from '../warden.js'
import type { Fail } from './checks.js'
import type { HttpAnswer } from './rejection.js'

/** The options every adapter's token endpoint takes. */
export interface TokenEndpointOptions<TRequest> {
  /**
   * Your authentication (a session cookie, `req.user`, `ctx.state.user`...): who asks, or
   * `undefined` for a `401`.
   */
  readonly authenticate: (
    request: TRequest,
  ) => Principal | undefined | Promise<Principal | undefined>
  /** Lifetime of the tokens, in seconds. @default the warden's `tokens.ttlSeconds` */
  readonly ttlSeconds?: number
}

const UNAUTHORIZED: HttpAnswer = { status: 401, headers: {}, body: { error: 'unauthorized' } }

/**
 * Checks a token endpoint's options; `name` is the adapter's function (`tokenHandler`).
 *
 * @throws TypeError (through `fail`) naming the option.
 */
export function checkTokenEndpoint(
  fail: Fail,
  name: string,
  options: { readonly warden?: unknown; readonly authenticate?: unknown } | undefined,
  needsWarden: boolean,
): void {
  const warden = options?.warden as { issueToken?: unknown } | undefined
  if (needsWarden && typeof warden?.issueToken !== 'function') {
    fail(`${name} option warden must be a Warden`)
  }
  if (typeof options?.authenticate !== 'function') {
    fail(`${name} option authenticate must be a function`)
  }
}

/** Issues a token to `principal` (a `401` answer when there is none). */
export async function issueTokenAnswer(
  warden: Pick<Warden, 'issueToken'>,
  principal: Principal | undefined,
  ttlSeconds?: number,
): Promise<HttpAnswer> {
  if (!principal) return UNAUTHORIZED
  const options = ttlSeconds === undefined ? {} : { ttlSeconds }
  const { token, expiresIn } = await warden.issueToken(principal, options)
  return { status: 200, headers: { 'Cache-Control': 'no-store' }, body: { token, expiresIn } }
}
