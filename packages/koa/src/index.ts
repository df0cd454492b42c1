/**
 * `@ws-warden/koa`: ws-warden for Koa, with WebSocket routes that go through the Koa middleware
 * chain before the upgrade, over `ws` 8.
 *
 * @packageDocumentation
 */
export { wardenKoa } from './middleware.js'
export type {
  GovernedHandler,
  GovernedMiddleware,
  WardenKoa,
  WardenKoaOptions,
  WardenRouteOptions,
} from './middleware.js'
export { tokenHandler } from './token-handler.js'
export type { TokenHandlerOptions } from './token-handler.js'
