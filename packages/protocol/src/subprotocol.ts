/**
 * The versioned WebSocket subprotocol (`Sec-WebSocket-Protocol`): its name, the version it
 * carries, and how a name or a header reads. The client offers {@link SUBPROTOCOL}; the server
 * selects it when offered, refuses an offer made only of `ws-warden.*` versions it does not speak,
 * and still serves a client that offers nothing (version 0: the same frames, not negotiated).
 *
 * @module
 */

/** The version of the wire protocol this package describes. */
export const PROTOCOL_VERSION = 1

/** Every ws-warden subprotocol name starts with this; other names belong to applications. */
export const SUBPROTOCOL_PREFIX = 'ws-warden.'

/** The subprotocol of {@link PROTOCOL_VERSION}: what the client offers and the server selects. */
export const SUBPROTOCOL = `${SUBPROTOCOL_PREFIX}v${PROTOCOL_VERSION}` as const

/** The version of a connection that negotiated no ws-warden subprotocol (an old client or server). */
export const UNNEGOTIATED_VERSION = 0

/** True for a name in the ws-warden namespace (`ws-warden.v1`, `ws-warden.v9`, `ws-warden.x`). */
export function isWardenSubprotocol(name: string): boolean {
  return name.startsWith(SUBPROTOCOL_PREFIX)
}

/**
 * The protocol version a selected subprotocol stands for: `ws-warden.v<n>` is `n`; anything else
 * (none selected: `''` or undefined, an application's own name, a malformed version) is
 * {@link UNNEGOTIATED_VERSION}.
 *
 * @example
 * ```ts
 * subprotocolVersion(socket.protocol) // 1 for 'ws-warden.v1', 0 for ''
 * ```
 */
export function subprotocolVersion(name: string | undefined): number {
  const match = /^ws-warden\.v([1-9]\d{0,5})$/.exec(name ?? '')
  return match ? Number(match[1]) : UNNEGOTIATED_VERSION
}

/**
 * The names a `Sec-WebSocket-Protocol` request header offers, in order: comma-separated, spaces
 * trimmed, empty items dropped. Several header lines count as one list.
 */
export function parseSubprotocols(header: string | readonly string[] | undefined): string[] {
  if (header === undefined) return []
  const lines = typeof header === 'string' ? [header] : header
  return lines.flatMap((line) => line.split(',')).flatMap((item) => item.trim() || [])
}
