import type { Principal, Warden } from '@ws-warden/core'
import type { Request, RequestHandler } from 'express'

/** Options of {@link tokenHandler}. */
export interface TokenHandlerOptions {
  /** The warden that signs the tokens. */
  readonly warden: Warden
  /**
   * Your authentication (`req.user` from passport, a session lookup...): who asks, or `undefined`
   * for a `401`.
   */
  readonly authenticate: (
    request: Request,
  ) => Principal | undefined | Promise<Principal | undefined>
  /** Lifetime of the tokens, in seconds. @default the warden's `tokens.ttlSeconds` */
  readonly ttlSeconds?: number
}

/**
 * The token endpoint's handler, which a browser calls before every connection attempt: `200
 * {token, expiresIn}` (never cached) for an authenticated request, `401 {error: 'unauthorized'}`
 * otherwise. Mount it like any handler: `app.post('/api/ws-token', tokenHandler(...))`.
 *
 * @throws TypeError naming an invalid option.
 */
export function tokenHandler(options: TokenHandlerOptions): RequestHandler {
  const { warden, authenticate, ttlSeconds } = options ?? {}
  if (typeof warden?.issueToken !== 'function') {
    throw new TypeError('@ws-warden/express: tokenHandler option warden must be a Warden')
  }
  if (typeof authenticate !== 'function') {
    throw new TypeError('@ws-warden/express: tokenHandler option authenticate must be a function')
  }
  const ttl = ttlSeconds === undefined ? {} : { ttlSeconds }
  return async function issueToken(request, response, next) {
    try {
      const principal = await authenticate(request)
      if (!principal) return void response.status(401).json({ error: 'unauthorized' })
      const { token, expiresIn } = await warden.issueToken(principal, ttl)
      response.set('Cache-Control', 'no-store').json({ token, expiresIn })
    } catch (error) {
      next(error)
    }
  }
}
