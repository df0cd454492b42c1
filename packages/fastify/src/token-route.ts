import type { Principal } from '@ws-warden/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'

/** Options of {@link tokenRoute}. */
export interface TokenRouteOptions {
  /**
   * The route's path.
   * @default '/ws-token'
   */
  readonly url?: string
  /**
   * Uses the app's own authentication (a session cookie, a bearer token...) to tell who asks.
   * Resolve `undefined` for an anonymous request: it gets a `401`.
   */
  readonly authenticate: (
    request: FastifyRequest,
  ) => Principal | undefined | Promise<Principal | undefined>
  /**
   * Lifetime of the tokens issued here, in seconds.
   * @default the warden's `tokens.ttlSeconds`
   */
  readonly ttlSeconds?: number
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
    throw new TypeError('@ws-warden/fastify: tokenRoute option url must be a path starting with /')
  }
  if (typeof authenticate !== 'function') {
    throw new TypeError('@ws-warden/fastify: tokenRoute option authenticate must be a function')
  }
  app.addHook('onReady', async function checkPlugin(this: FastifyInstance) {
    if (!this.hasDecorator('warden')) {
      throw new Error('@ws-warden/fastify: tokenRoute needs the plugin registered on the app')
    }
  })
  app.post(url, async function issue(request, reply) {
    const principal = await authenticate(request)
    if (!principal) return reply.code(401).send({ error: 'unauthorized' })
    const options = ttlSeconds === undefined ? {} : { ttlSeconds }
    const { token, expiresIn } = await this.warden.issueToken(principal, options)
    return reply.header('cache-control', 'no-store').send({ token, expiresIn })
  })
}
