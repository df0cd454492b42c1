/**
 * Which browser origins may open a WebSocket: the `origins` option, read once at startup, and
 * the check admission runs on every upgrade that carries an `Origin` header.
 *
 * @module
 */
import type { UpgradeRequest } from './types.js'

/**
 * Allowed `Origin`s: an exact list (`['https://chat.example']`), `'same-origin'` (the Origin's
 * host and port equal the request's `Host` header, so the page and the socket are served
 * together), or a function that decides (only a returned `true` allows).
 */
export type OriginPolicy =
  readonly string[] | 'same-origin' | ((origin: string, request: UpgradeRequest) => boolean)

/** The policy as admission holds it: an exact list becomes a set. */
export type ResolvedOrigins =
  ReadonlySet<string> | 'same-origin' | ((origin: string, request: UpgradeRequest) => boolean)

/**
 * Validates the `origins` option.
 *
 * @throws TypeError naming the option.
 */
export function resolveOrigins(value: unknown): ResolvedOrigins | undefined {
  if (value === undefined || value === 'same-origin') return value
  if (typeof value === 'function')
    return value as (origin: string, request: UpgradeRequest) => boolean
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) {
    throw new TypeError(
      "ws-warden: option origins must be an array of non-empty strings, 'same-origin' or a function",
    )
  }
  return new Set(value as string[])
}

/** True when `origin` may connect under `policy`. */
export function originAllowed(
  policy: ResolvedOrigins,
  origin: string,
  request: UpgradeRequest,
): boolean {
  if (policy === 'same-origin') return sameOrigin(origin, request.headers.host)
  if (typeof policy === 'function') return policy(origin, request) === true
  return policy.has(origin)
}

/** `https://chat.example:8443` against `Host: chat.example:8443`, default ports ignored. */
function sameOrigin(origin: string, host: string | readonly string[] | undefined): boolean {
  if (typeof host !== 'string' || host === '') return false
  const parsed = parseUrl(origin)
  if (parsed === undefined || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    return false
  }
  // Read with the Origin's scheme, so `Host: a:443` equals `https://a`.
  const served = parseUrl(`${parsed.protocol}//${host}`)
  return (
    served !== undefined &&
    served.host === parsed.host &&
    served.username === '' &&
    served.pathname === '/' &&
    served.search === ''
  )
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text)
  } catch {
    return undefined
  }
}
