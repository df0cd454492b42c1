import type { Principal, Warden } from '@ws-warden/core'
import type { Context, Middleware } from 'koa'

/** Options of {@link tokenHandler}. */
export interface TokenHandlerOptions {
  /** The warden that signs the tokens. */
  readonly warden: Warden
  /**
   * Your authentication (`ctx.state.user`, a session lookup...): who asks, or `undefined` for a
   * `401`.
   */
  readonly authenticate: (ctx: Context) => Principal | undefined | Promise<Principal | undefined>
  /** Lifetime of the tokens, in seconds. @default the warden's `tokens.ttlSeconds` */
  readonly ttlSeconds?: number
}

/**
 * The token endpoint's middleware, which a browser calls before every connection attempt: `200
 * {token, expiresIn}` (never cached) for an authenticated request, `401 {error: 'unauthorized'}`
 * otherwise. Mount it like any route: `router.post('/api/ws-token', tokenHandler(...))`.
 *
 * @throws TypeError naming an invalid option.
 */
export function tokenHandler(options: TokenHandlerOptions): Middleware {
  const { warden, authenticate, ttlSeconds } = options ?? {}
  if (typeof warden?.issueToken !== 'function') {
    throw new TypeError('@ws-warden/koa: tokenHandler option warden must be a Warden')
  }
  if (typeof authenticate !== 'function') {
    throw new TypeError('@ws-warden/koa: tokenHandler option authenticate must be a function')
  }
  const ttl = ttlSeconds === undefined ? {} : { ttlSeconds }
  return async function issueToken(ctx) {
    const principal = await authenticate(ctx)
    if (!principal) {
      ctx.status = 401
      ctx.body = { error: 'unauthorized' }
      return
    }
    const { token, expiresIn } = await warden.issueToken(principal, ttl)
    ctx.set('Cache-Control', 'no-store')
    ctx.body = { token, expiresIn }
  }
}
