/**
 * The option checks every adapter makes, with errors that name the adapter and the option:
 * the warden, `getUserId`, and a governed route's endpoint settings.
 *
 * @module
 */
import type { EndpointOptions } from '../types.js'

/** Throws a `TypeError` prefixed with the adapter's name. */
export type Fail = (message: string) => never

/** The `fail` of one adapter: `adapterFail('@ws-warden/koa')('option x ...')`. */
export function adapterFail(adapter: string): Fail {
  return (message) => {
    throw new TypeError(`${adapter}: ${message}`)
  }
}

/** True for a route's endpoint settings: an object whose `permissions`, if any, are strings. */
export function isEndpoint(value: unknown): value is EndpointOptions {
  if (typeof value !== 'object' || value === null) return false
  const permissions: unknown = (value as EndpointOptions).permissions ?? []
  return Array.isArray(permissions) && permissions.every((item) => typeof item === 'string')
}

/**
 * Checks the options all adapters share.
 *
 * @throws TypeError (through `fail`) naming `warden` or `getUserId`.
 */
export function checkAdapterOptions(
  fail: Fail,
  options: { readonly warden?: unknown; readonly getUserId?: unknown } | undefined,
): void {
  const warden = options?.warden as { admit?: unknown; attach?: unknown } | undefined
  if (typeof warden?.admit !== 'function' || typeof warden.attach !== 'function') {
    fail('option warden must be a Warden (from createWarden)')
  }
  if (options?.getUserId !== undefined && typeof options.getUserId !== 'function') {
    fail('option getUserId must be a function')
  }
}
