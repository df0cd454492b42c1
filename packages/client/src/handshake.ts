/**
 * The opening handshake's request: the socket of one attempt, opened on the connect URL (the
 * endpoint with the token, and the resume parameters, appended to its query) with the
 * subprotocols offered (`ws-warden.v1`, then the application's own); and the sign that a server
 * selected none.
 *
 * @module
 */
import { SUBPROTOCOL, TOKEN_QUERY_PARAM } from '@ws-warden/protocol'
import type { ResolvedOptions } from './options.js'
import type { WebSocketLike } from './socket.js'

/**
 * How Node's `ws` fails a handshake whose answer selected no subprotocol although one was
 * offered (browsers accept such an answer). The client then stops offering `ws-warden.v1`.
 */
const NO_SUBPROTOCOL = 'Server sent no subprotocol'

/**
 * The endpoint (`endpoint()`, called once) with `token` and then `params` (already encoded
 * `name=value` pairs) appended to its query.
 */
function connectUrl(endpoint: () => string, token: string, params: readonly string[]): string {
  const query = [`${TOKEN_QUERY_PARAM}=${encodeURIComponent(token)}`, ...params]
  const base = endpoint()
  return `${base}${base.includes('?') ? '&' : '?'}${query.join('&')}`
}

/** `ws-warden.v1` (unless `offerSubprotocol` is false), then the application's own. */
function offeredProtocols(own: readonly string[], offerSubprotocol: boolean): string[] {
  const theirs = own.filter((name) => name !== SUBPROTOCOL)
  return offerSubprotocol ? [SUBPROTOCOL, ...theirs] : theirs
}

/** True for the `error` event of `ws` refusing a handshake that selected no subprotocol. */
export function selectedNoSubprotocol(event: unknown): boolean {
  return (event as { message?: unknown } | null | undefined)?.message === NO_SUBPROTOCOL
}

/**
 * Opens the socket of an attempt with `token` and the resume `params`, offering `ws-warden.v1`
 * unless `offerSubprotocol` is false.
 */
export function openSocket(
  options: ResolvedOptions,
  token: string,
  params: readonly string[],
  offerSubprotocol: boolean,
): WebSocketLike {
  const url = connectUrl(() => options.url(), token, params)
  const { WebSocket } = options
  const protocols = offeredProtocols(options.protocols, offerSubprotocol)
  return protocols.length === 0 ? new WebSocket(url) : new WebSocket(url, protocols)
}
