/**
 * The token endpoint as an Express handler (`tokenHandler`); the answer itself comes from
 * `@ws-warden/core/adapter`.
 *
 * @module
 */
import type { Warden } from '@ws-warden/core'
import type { TokenEndpointOptions } from '@ws-warden/core/adapter'
import { checkTokenEndpoint, issueTokenAnswer } from '@ws-warden/core/adapter'
import type { Request, RequestHandler } from 'express'
import { fail, send } from './routes.js'

/**
 * Options of {@link tokenHandler}: the warden, and your authentication (`req.user` from
 * passport, a session lookup...) telling who asks, or `undefined` for a `401`.
 */
export interface TokenHandlerOptions extends TokenEndpointOptions<Request> {
  /** The warden that signs the tokens. */
  readonly warden: Warden
}

/**
 * The token endpoint's handler, which a browser calls before every connection attempt: `200
 * {token, expiresIn}` (never cached) for an authenticated request, `401 {error: 'unauthorized'}`
 * otherwise. Mount it like any handler: `app.post('/api/ws-token', tokenHandler(...))`.
 *
 * @throws TypeError naming an invalid option.
 */
export function tokenHandler(options: TokenHandlerOptions): RequestHandler {
  checkTokenEndpoint(fail, 'tokenHandler', options, true)
  const { warden, authenticate, ttlSeconds } = options
  return async function issueToken(request, response, next) {
    try {
      send(response, await issueTokenAnswer(warden, await authenticate(request), ttlSeconds))
    } catch (error) {
      next(error)
    }
  }
}
