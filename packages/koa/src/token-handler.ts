/**
 * The token endpoint as Koa middleware (`tokenHandler`); the answer itself comes from
 * `@ws-warden/core/adapter`.
 *
 * @module
 */
import type { Warden } from '@ws-warden/core'
import type { TokenEndpointOptions } from '@ws-warden/core/adapter'
import { checkTokenEndpoint, issueTokenAnswer } from '@ws-warden/core/adapter'
import type { Context, Middleware } from 'koa'
import { fail, send } from './middleware.js'

/**
 * Options of {@link tokenHandler}: the warden, and your authentication (`ctx.state.user`, a
 * session lookup...) telling who asks, or `undefined` for a `401`.
 */
export interface TokenHandlerOptions extends TokenEndpointOptions<Context> {
  /** The warden that signs the tokens. */
  readonly warden: Warden
}

/**
 * The token endpoint's middleware, which a browser calls before every connection attempt: `200
 * {token, expiresIn}` (never cached) for an authenticated request, `401 {error: 'unauthorized'}`
 * otherwise. Mount it like any route: `router.post('/api/ws-token', tokenHandler(...))`.
 *
 * @throws TypeError naming an invalid option.
 */
export function tokenHandler(options: TokenHandlerOptions): Middleware {
  checkTokenEndpoint(fail, 'tokenHandler', options, true)
  const { warden, authenticate, ttlSeconds } = options
  return async function issueToken(ctx) {
    send(ctx, await issueTokenAnswer(warden, await authenticate(ctx), ttlSeconds))
  }
}
