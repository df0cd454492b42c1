/**
 * `@ws-warden/fastify`: ws-warden for Fastify 5, over `@fastify/websocket` 11.
 *
 * @packageDocumentation
 */
export { wardenFastify, wardenFastify as default } from './plugin.js'
export type {
  GovernedHandler,
  WardenPluginOptions,
  WardenRouteOptions,
  WebSocketServerOptions,
} from './plugin.js'
export { tokenRoute } from './token-route.js'
export type { TokenRouteOptions } from './token-route.js'
