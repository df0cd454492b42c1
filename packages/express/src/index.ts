/**
 * `@ws-warden/express`: ws-warden for Express, with express-ws's `app.ws()` routes over `ws` 8.
 *
 * @packageDocumentation
 */
export { wardenExpress } from './routes.js'
export type {
  GovernedHandler,
  WardenExpress,
  WardenExpressOptions,
  WardenRouteOptions,
  WithWs,
  WsMethod,
} from './routes.js'
export { tokenHandler } from './token-handler.js'
export type { TokenHandlerOptions } from './token-handler.js'
