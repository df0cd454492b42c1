/**
 * In-band token refresh on the client: when the server asks (`$refresh`), one fetch at a time of
 * a fresh token from the `refreshToken` provider, sent back as a `$refresh` frame on the
 * connection that asked if it is still the current one and open; then the server's answer, a
 * `refreshed` event or a `RefreshRefusedError`.
 *
 * @module
 */
import type { Envelope } from '@ws-warden/protocol'
import type { Emitter } from './emitter.js'
import { RefreshRefusedError, TokenProviderError } from './errors.js'
import type { ClientEvents } from './events.js'
import { refreshFrame } from './frames.js'
import type { ResolvedOptions } from './options.js'
import { isToken } from './options.js'
import type { WebSocketLike } from './socket.js'
import { OPEN } from './socket.js'

/** Answers the server's requests for a fresh token, and reports its answers. */
export class TokenRefresh {
  private refreshing = false

  /** `current`: the client's current socket, if any. */
  constructor(
    private readonly options: ResolvedOptions,
    private readonly emitter: Emitter<ClientEvents>,
    private readonly current: () => WebSocketLike | undefined,
  ) {}

  /**
   * The server asked for a fresh token (`$refresh`): fetch one and send it on the same
   * connection, if it is still the current one by then. A request while a fetch is in flight is
   * ignored.
   */
  requested(): void {
    if (this.refreshing) return
    this.refreshing = true
    const socket = this.current()
    Promise.resolve()
      .then(() => this.options.refreshToken())
      .then((token) => {
        if (!isToken(token)) {
          throw new TypeError('the refreshToken provider must return a non-empty string')
        }
        if (socket === this.current() && socket?.readyState === OPEN) {
          socket.send(refreshFrame(token))
        }
      })
      .catch((error: unknown) => {
        this.emitter.emit('error', new TokenProviderError('refreshToken', error))
      })
      .finally(() => {
        this.refreshing = false
      })
  }

  /** The server's `$refreshed`: emits `refreshed` with the new expiry. */
  refreshed(frame: Envelope): void {
    if (typeof frame.expiresAt === 'number') {
      this.emitter.emit('refreshed', { expiresAt: frame.expiresAt })
    }
  }

  /** An `error` frame answering `$refresh`: emits a `RefreshRefusedError`. */
  refused(frame: Envelope): void {
    const code = typeof frame.code === 'string' ? frame.code : 'unknown'
    const message = typeof frame.message === 'string' ? frame.message : code
    this.emitter.emit('error', new RefreshRefusedError(code, message))
  }
}
