/**
 * The ws server every adapter shares: created `noServer` with the warden's limits and its
 * subprotocol negotiation, and shut down (the warden first) when the app or server closes.
 *
 * @module
 */
import { CloseCode } from '@ws-warden/protocol'
import type { ServerOptions } from 'ws'
import { WebSocketServer } from 'ws'
import type { Warden } from '../warden.js'
import type { HandleProtocols, WardenWsOptions } from './subprotocol.js'
import { selectSubprotocol } from './subprotocol.js'

/** `ws` server options an application may pass; the warden owns the limits and the server. */
export type WsServerOptions = Omit<
  ServerOptions,
  'noServer' | 'server' | 'port' | 'maxPayload' | 'perMessageDeflate'
>

/** What a governed server takes from the warden: its `ws` limits. */
interface WardenLimits {
  readonly wsOptions: Pick<Warden['wsOptions'], 'maxPayload' | 'perMessageDeflate'>
}

/**
 * The `ws` options of a governed server: the application's, then the warden's limits, and the
 * subprotocol negotiation. `ws` keeps tracking clients (its default): an adapter's server may
 * also serve routes the warden does not govern, whose sockets `closeSockets` closes. The
 * negotiation asks the application's own `handleProtocols` (if any) only when
 * the client does not offer `ws-warden.v1` (see `selectSubprotocol`).
 */
export function governedWsOptions<TOptions extends { handleProtocols?: HandleProtocols }>(
  warden: WardenLimits,
  options: TOptions,
): TOptions & Omit<WardenWsOptions, 'clientTracking'> {
  const { maxPayload, perMessageDeflate } = warden.wsOptions
  return {
    ...options,
    maxPayload,
    perMessageDeflate,
    handleProtocols: selectSubprotocol(options.handleProtocols),
  }
}

/**
 * The `noServer` ws server that completes governed handshakes, with the warden's limits and
 * subprotocol negotiation.
 */
export function governedWss(warden: WardenLimits, options: WsServerOptions = {}): WebSocketServer {
  return new WebSocketServer({ ...governedWsOptions(warden, options), noServer: true })
}

/**
 * Shuts the sockets down: the warden first (its close code, the drain), then whatever the ws
 * server still holds (ungoverned routes' clients, which get 1001), then the ws server itself.
 */
export async function closeSockets(
  warden: Pick<Warden, 'close'>,
  wss: WebSocketServer,
): Promise<void> {
  try {
    await warden.close()
  } finally {
    // Absent when the application turned ws's tracking off: the warden closed what it governs.
    for (const client of wss.clients ?? []) client.close(CloseCode.GoingAway)
    wss.close()
  }
}
