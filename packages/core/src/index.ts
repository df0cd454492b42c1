/**
 * ws-warden's core: a framework-agnostic engine that governs WebSocket connections.
 *
 * The root holds what an application uses: `createWarden` and its options, the connection and
 * handler types, the typed errors, connect tokens and the protocol's codes. Store contracts and
 * the memory stores are in `@ws-warden/core/stores`; metrics in `@ws-warden/core/prometheus`.
 *
 * @packageDocumentation
 */
export { createWarden, Warden } from './warden.js'
export type { DropReason, ResumeOutcome, WardenObserver } from './observer.js'
export type { SweeperOptions, SweepOptions, SweepReport } from './sweep.js'
export type { SpanAttributes, SpanAttributeValue, SpanTracer, TracerSpan } from './tracing.js'
export type {
  HeartbeatOptions,
  LimitOptions,
  SendOptions,
  ShutdownOptions,
  WardenHooks,
  WardenOptions,
} from './options.js'
export type { ResumptionOptions } from './resumption-options.js'
export type { RefreshOptions } from './refresh.js'
export type { WardenStores } from './store-contracts.js'
export { ConnectTokens, CONNECT_TOKEN_TYPE, timingSafeEqualStrings } from './tokens.js'
export type {
  CommonTokenOptions,
  IssuedToken,
  IssueOptions,
  JwksAlgorithm,
  JwksTokenOptions,
  KeyPairTokenOptions,
  SecretTokenOptions,
  TokenOptions,
  VerifiedToken,
} from './tokens.js'
// The adapters' building blocks, also (with the rest of them) in `@ws-warden/core/adapter`.
export { createClientIpResolver, ipRateLimitKey } from './adapter/client-ip.js'
export type { TrustProxy } from './adapter/client-ip.js'
export { handleUpgrade, rejectUpgrade, toUpgradeRequest } from './adapter/upgrade.js'
export { retryAfterSeconds } from './adapter/rejection.js'
export type { HandleUpgradeOptions } from './adapter/upgrade.js'
export { admitRoutedUpgrade, isRoutedUpgrade, routeUpgrades } from './adapter/routed-upgrade.js'
export type { RoutedAdmission } from './adapter/routed-upgrade.js'
export * from './errors.js'
export type * from './types.js'
export { defineHandler } from './define-handler.js'
export type {
  InferOutput,
  MessageIssue,
  StandardSchemaIssue,
  StandardSchemaProps,
  StandardSchemaResult,
  StandardSchemaV1,
} from './schema.js'
export { CloseCode, ErrorCode, reconnectPolicy, TOKEN_QUERY_PARAM } from '@ws-warden/protocol'
export type { Envelope, ErrorCodeValue, ErrorFrame, ReconnectPolicy } from '@ws-warden/protocol'
