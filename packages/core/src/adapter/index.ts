/**
 * `@ws-warden/core/adapter`: what a framework adapter needs and nothing an application does.
 * Every adapter (Fastify, Express, Koa, your own) builds on these pieces and keeps only its
 * framework's idiom: how it registers routes, reads the request and writes the response.
 *
 * - `upgrade`: the request shape admission reads, raw-socket rejection, the handshake.
 * - `routed-upgrade`: upgrades routed through a framework's middleware, `app.listen()` wrapping.
 * - `rejection`: the one rejection → HTTP answer mapping (status, `Retry-After`, JSON body).
 * - `token`: the token endpoint without a framework (principal in, answer out).
 * - `client-ip`: the client IP behind trusted proxies (`X-Forwarded-For`, `Forwarded`).
 * - `redact`: the connect token cut out of logged URLs.
 * - `checks`: option checks with errors that name the adapter.
 * - `server`: the `noServer` ws server with the warden's limits, and its shutdown.
 * - `subprotocol`: `Sec-WebSocket-Protocol` negotiation (`ws-warden.v1`) and its admission check.
 *
 * @packageDocumentation
 */
export { adapterFail, checkAdapterOptions, isEndpoint } from './checks.js'
export type { Fail } from './checks.js'
export { createClientIpResolver, ipRateLimitKey } from './client-ip.js'
export type {
  ClientAddressSource,
  ClientIpResolver,
  ClientIpResolverOptions,
  ForwardingHeader,
  TrustProxy,
} from './client-ip.js'
export { redactQuery, redactToken } from './redact.js'
export { rejectionAnswer, retryAfterSeconds } from './rejection.js'
export type { HttpAnswer } from './rejection.js'
export {
  admitRoutedUpgrade,
  governServer,
  isRoutedUpgrade,
  routeUpgrades,
  runGovernedHandler,
} from './routed-upgrade.js'
export type { Listens, RoutedAdmission, RoutedAdmitOptions } from './routed-upgrade.js'
export { closeSockets, governedWsOptions, governedWss } from './server.js'
export type { WsServerOptions } from './server.js'
export { checkSubprotocols, selectSubprotocol } from './subprotocol.js'
export type { HandleProtocols, WardenWsOptions } from './subprotocol.js'
export { checkTokenEndpoint, issueTokenAnswer } from './token.js'
export type { TokenEndpointOptions } from './token.js'
export { acceptUpgrade, handleUpgrade, rejectUpgrade, toUpgradeRequest } from './upgrade.js'
export type { AdapterUpgradeRequest, HandleUpgradeOptions } from './upgrade.js'
