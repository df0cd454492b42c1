/**
 * The token endpoint as a Fastify route (`tokenRoute`); the answer itself comes from
 * `@ws-warden/core/adapter`.
 *
 * @module
 */
import type { TokenEndpointOptions } from '@ws-warden/core/adapter'
import { checkTokenEndpoint, issueTokenAnswer } from '@ws-warden/core/adapter'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { fail, send } from './plugin.js'

/** Options of {@link tokenRoute}: the shared token endpoint options, and the route's path. */
export interface TokenRouteOptions extends TokenEndpointOptions<FastifyRequest> {
  /**
   * The route's path.
   * @default '/ws-token'
   */
  readonly url?: string
}

/**
 * Adds the token endpoint a browser calls before every connection attempt: `200 {token,
 * expiresIn}` (never cached, never logged) for an authenticated request, `401 {error:
 * 'unauthorized'}` otherwise. Needs the `@ws-warden/fastify` plugin on the same app.
 *
 * @throws TypeError naming an invalid option.
 */
export function tokenRoute(app: FastifyInstance, options: TokenRouteOptions): void {
  const { url = '/ws-token', authenticate, ttlSeconds } = options ?? {}
  if (typeof url !== 'string' || !url.startsWith('/')) {
    fail('tokenRoute option url must be a path starting with /')
  }
  checkTokenEndpoint(fail, 'tokenRoute', options, false)
  app.addHook('onReady', async function checkPlugin(this: FastifyInstance) {
    if (!this.hasDecorator('warden')) {
      throw new Error('@ws-warden/fastify: tokenRoute needs the plugin registered on the app')
    }
  })
  app.post(url, async function issue(request, reply) {
    return send(reply, await issueTokenAnswer(this.warden, await authenticate(request), ttlSeconds))
  })
}
