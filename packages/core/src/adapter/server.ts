/**
 * The ws server every adapter shares: created `noServer` with the warden's limits, and shut down
 * (the warden first) when the app or server closes.
 *
 * @module
 */
import { CloseCode } from '@ws-warden/protocol'
import type { ServerOptions } from 'ws'
import { WebSocketServer } from 'ws'
import type { Warden } from '../warden.js'

/** `ws` server options an application may pass; the warden owns the limits and the server. */
export type WsServerOptions = Omit<
  ServerOptions,
  'noServer' | 'server' | 'port' | 'maxPayload' | 'perMessageDeflate'
>

/** The `noServer` ws server that completes governed handshakes, with the warden's limits. */
export function governedWss(
  warden: Pick<Warden, 'wsOptions'>,
  options: WsServerOptions = {},
): WebSocketServer {
  return new WebSocketServer({ ...options, ...warden.wsOptions, noServer: true })
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
    for (const client of wss.clients) client.close(CloseCode.GoingAway)
    wss.close()
  }
}
