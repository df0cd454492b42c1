/**
 * Admission wiring: the admission pipeline with the warden's stores, hooks, logging and the
 * resumption claim, and in-band token refresh, which re-runs the token checks of admission.
 *
 * @module
 */
import { Admitter, checkPermissions } from '../admission.js'
import { createClientIpResolver } from '../adapter/client-ip.js'
import type { LiveConnection } from '../connection.js'
import { MemoryAdmissionStore } from '../memory/admission.js'
import type { WardenOptions } from '../options.js'
import { TokenRefresh } from '../refresh.js'
import type { ClaimedSession } from '../session.js'
import type { WardenRuntime } from './runtime.js'
import type { ResumptionWiring } from './sessions.js'

/** The admission pipeline of a warden, with its hooks and the resumption claim wired in. */
export function createAdmitter<TData>(
  runtime: WardenRuntime<TData>,
  options: WardenOptions<TData>,
  sessions: ResumptionWiring<TData> | undefined,
): Admitter {
  const { hooks, logger } = runtime
  const { admission } = runtime.stores
  return new Admitter({
    options: runtime.options,
    tokens: runtime.tokens,
    sessions: runtime.stores.sessions,
    tokenStore: runtime.stores.tokens,
    rateLimits: runtime.stores.rateLimits,
    admission,
    ...(admission instanceof MemoryAdmissionStore && {
      admissionCall: (store, op, operation) => runtime.guard(store, op, operation, false),
    }),
    hooks: {
      ...(hooks.onAdmit && { onAdmit: hooks.onAdmit }),
      onReject: (info) => {
        if (info.error.status >= 500 && info.error.cause !== undefined) {
          runtime.reportError(info.error)
        }
        logger.info(
          {
            event: 'reject',
            reason: info.error.code,
            status: info.error.status,
            userId: info.userId,
          },
          'connection rejected',
        )
        runtime.safely(() => hooks.onReject?.(info))
      },
    },
    resolveIp: createClientIpResolver(options.trustProxy ?? false, { logger }),
    guard: (store, op, operation) => runtime.guard(store, op, operation),
    now: () => runtime.now(),
    isClosing: () => runtime.closing !== undefined,
    dropReservation: (id) => runtime.removeSession(id),
    ...(sessions && {
      claimSession: (url: string, userId: string) => sessions.resumption.claim(url, userId),
      unclaimSession: (claimed: ClaimedSession) =>
        runtime.background(sessions.resumption.unclaim(claimed)),
    }),
  })
}

/** The token refresh engine of a warden (refresh on), or undefined. */
export function createRefresher<TData>(runtime: WardenRuntime<TData>): TokenRefresh | undefined {
  return runtime.options.refresh
    ? new TokenRefresh({
        options: runtime.options.refresh,
        tokens: runtime.tokens,
        tokenStore: runtime.stores.tokens,
        guard: (store, op, operation) => runtime.guard(store, op, operation),
        now: () => runtime.now(),
        checkPermissions: (principal, endpoint) =>
          checkPermissions(principal, runtime.options.permissions, endpoint),
        ...(runtime.hooks.onAdmit && { onAdmit: runtime.hooks.onAdmit }),
        onError: (error, connection) =>
          runtime.reportError(error, connection as LiveConnection<TData>),
      })
    : undefined
}
