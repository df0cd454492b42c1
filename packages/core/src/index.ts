/**
 * ws-warden's core: a framework-agnostic engine that governs WebSocket connections.
 *
 * @packageDocumentation
 */
export { createWarden, Warden } from './warden.js'
export type { SweeperOptions, SweepOptions, SweepReport, WardenObserver } from './sweep.js'
export type {
  HeartbeatOptions,
  LimitOptions,
  SendOptions,
  ShutdownOptions,
  WardenHooks,
  WardenOptions,
} from './options.js'
export type { ResumptionOptions } from './resumption.js'
export type { RefreshOptions } from './refresh.js'
export { ConnectTokens, timingSafeEqualStrings } from './tokens.js'
export type { IssuedToken, TokenOptions, VerifiedToken } from './tokens.js'
export { createClientIpResolver, ipRateLimitKey } from './client-ip.js'
export type { TrustProxy } from './client-ip.js'
export { handleUpgrade, rejectUpgrade, retryAfterSeconds, toUpgradeRequest } from './upgrade.js'
export type { HandleUpgradeOptions } from './upgrade.js'
export { admitRoutedUpgrade, isRoutedUpgrade, routeUpgrades } from './routed-upgrade.js'
export type { RoutedAdmission } from './routed-upgrade.js'
export * from './errors.js'
export * from './stores.js'
export * from './memory/index.js'
export type * from './types.js'
export { CloseCode, ErrorCode, reconnectPolicy, TOKEN_QUERY_PARAM } from '@ws-warden/protocol'
export type { Envelope, ErrorFrame, ReconnectPolicy } from '@ws-warden/protocol'
