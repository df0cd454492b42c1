/**
 * Subprotocol negotiation on the server (`Sec-WebSocket-Protocol`): which name the handshake
 * selects (`ws-warden.v1` when offered, else the application's choice among its own names), and
 * the admission check that refuses an offer made only of ws-warden versions this server does not
 * speak.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { isWardenSubprotocol, parseSubprotocols, SUBPROTOCOL } from '@ws-warden/protocol'
import { UnsupportedProtocolError } from '../errors.js'
import type { RequestHeaders } from '../types.js'

/** `ws`'s `handleProtocols`: the offered names in, the selected one (or `false`, none) out. */
export type HandleProtocols = (protocols: Set<string>, request: IncomingMessage) => string | false

/**
 * The `handleProtocols` a governed ws server runs:
 * - `ws-warden.v1` offered: it is selected, whatever else is offered (the application's handler
 *   is not asked: the connection speaks the warden's frames);
 * - otherwise the other ws-warden names (versions this server does not speak) are set aside, and
 *   the application's own names go to `app` if given, or else the first of them is selected, as
 *   `ws` does without a handler (clients that relied on that keep working);
 * - nothing left: none is selected (an old client offered nothing, or admission let an odd mix
 *   through).
 */
export function selectSubprotocol(app?: HandleProtocols): HandleProtocols {
  return (protocols, request) => {
    if (protocols.has(SUBPROTOCOL)) return SUBPROTOCOL
    const own = new Set<string>()
    for (const name of protocols) if (!isWardenSubprotocol(name)) own.add(name)
    if (own.size === 0) return false
    if (app) return app(own, request)
    return own.values().next().value as string
  }
}

/**
 * Admission's subprotocol check: throws {@link UnsupportedProtocolError} when the request offers
 * subprotocols and every one is a ws-warden version other than `ws-warden.v1`. An offer without
 * any ws-warden name, or none at all (an old client), passes.
 */
export function checkSubprotocols(headers: RequestHeaders): void {
  const offered = parseSubprotocols(headers['sec-websocket-protocol'])
  if (offered.length === 0 || offered.includes(SUBPROTOCOL)) return
  if (offered.every(isWardenSubprotocol)) throw new UnsupportedProtocolError(offered)
}

/** The `ws` server options a warden decides (`warden.wsOptions`). */
export interface WardenWsOptions {
  readonly maxPayload: number
  readonly perMessageDeflate: false
  /**
   * The warden keeps its own registry of the connections it governs, so `ws` need not keep a
   * second one (its `clients` set and a close listener per socket). Spread `clientTracking: true`
   * after these options for a server that also serves sockets the warden does not govern.
   */
  readonly clientTracking: false
  /** {@link selectSubprotocol} without an application handler. */
  readonly handleProtocols: HandleProtocols
}
