/**
 * Token expiry on live connections, with in-band refresh. A connection carries its connect
 * token's expiry. Some time before it, the heartbeat's sweep asks the client for a fresh token
 * (`$refresh`); the client sends one (`{ type: '$refresh', token }`) and the connection is
 * extended to the new token's expiry. A connection that has not refreshed `graceMs` after its
 * expiry is closed with 4101 (unauthorized: reconnect with a fresh token).
 *
 * @module
 */
import type { Envelope } from '@ws-warden/protocol'
import { CloseCode, ErrorCode, FrameType } from '@ws-warden/protocol'
import type { LiveConnection } from './connection.js'
import { ForbiddenError, MessageError, UnauthorizedError } from './errors.js'
import { errorFrame } from './messages.js'
import type { TokenStore } from './store-contracts.js'
import type { StoreCall } from './store-guard.js'
import type { ConnectTokens } from './tokens.js'
import type { Principal, UpgradeRequest } from './types.js'
import { featureOption, integerOption } from './validate.js'

/** Token refresh settings. */
export interface RefreshOptions {
  /**
   * How long before a connection's token expires the server asks for a fresh one: at most this,
   * and at most half of the token's remaining lifetime when it was accepted.
   * @default 30000
   */
  readonly leadMs?: number
  /**
   * How long after its token expired a connection may still refresh before it is closed with
   * 4101.
   * @default 10000
   */
  readonly graceMs?: number
}

/** Refresh options with defaults applied, or `false`; a bad value throws a `TypeError`. */
export function resolveRefresh(
  value: RefreshOptions | boolean | undefined,
  heartbeat: boolean,
): Required<RefreshOptions> | false {
  const options = featureOption('refresh', value, heartbeat)
  if (!options) return false
  return {
    leadMs: integerOption('refresh.leadMs', options.leadMs, 30_000),
    graceMs: integerOption('refresh.graceMs', options.graceMs, 10_000),
  }
}

export interface RefreshDeps {
  readonly options: Required<RefreshOptions>
  readonly tokens: ConnectTokens
  readonly tokenStore: TokenStore
  readonly guard: StoreCall
  readonly now: () => number
  /** Throws `ForbiddenError` if the principal lacks a permission the connection needs. */
  readonly checkPermissions: (principal: Principal, endpointPermissions: readonly string[]) => void
  readonly onAdmit?: (
    principal: Principal,
    request: UpgradeRequest,
  ) => Principal | Promise<Principal>
  readonly onError: (error: unknown, connection: LiveConnection<never>) => void
}

/** The refresh engine; the warden owns one when `refresh` is on. */
export class TokenRefresh {
  constructor(private readonly deps: RefreshDeps) {}

  /** Sets the connection's expiry, and when to ask for the next refresh. */
  extend<TData>(connection: LiveConnection<TData>, expiresAt: number): void {
    const now = this.deps.now()
    const lead = Math.min(this.deps.options.leadMs, Math.max(0, expiresAt - now) / 2)
    connection.tokenExpiresAt = expiresAt
    connection.refreshAt = expiresAt - lead
    connection.refreshRequested = false
  }

  /**
   * From the heartbeat's sweep: ask for a refresh, or close an expired connection. (On a
   * connection already closing, both are no-ops.)
   */
  check<TData>(connection: LiveConnection<TData>, now: number): void {
    if (now >= connection.tokenExpiresAt + this.deps.options.graceMs) {
      connection.closeWith('expired', CloseCode.Unauthorized, ErrorCode.TokenExpired)
      return
    }
    if (!connection.refreshRequested && now >= connection.refreshAt) {
      connection.refreshRequested = true
      connection.send({ type: FrameType.Refresh, expiresAt: connection.tokenExpiresAt })
    }
  }

  /**
   * A `$refresh` frame from the client. A bad, replayed or foreign token is answered with an
   * error frame (`for: '$refresh'`) and changes nothing: the connection still ends at its expiry.
   * A principal that lost a permission the connection needs is closed with 4003 at once.
   */
  async handle<TData>(connection: LiveConnection<TData>, message: Envelope): Promise<void> {
    const { deps } = this
    try {
      const token = message.token
      if (typeof token !== 'string' || token === '') {
        throw new MessageError(ErrorCode.BadMessage, '$refresh needs a string "token"')
      }
      const verified = await deps.tokens.verify(token)
      if (verified.principal.userId !== connection.userId) {
        throw new UnauthorizedError(ErrorCode.TokenInvalid, 'token was issued to another user')
      }
      const fresh = await deps.guard('tokens', 'consume', () =>
        // The owner, as admission passes it: a store that keeps tokens by owner finds this one.
        deps.tokenStore.consume(verified.jti, verified.expiresAt, verified.principal.userId),
      )
      if (!fresh) throw new UnauthorizedError(ErrorCode.TokenReplayed, 'token already used')
      // Closed while the token was verified or consumed: nothing left to extend, and `onAdmit`
      // (often a database read) is not run for a dead connection. Checked again after it.
      if (!connection.open) return
      const principal =
        deps.onAdmit && connection.request
          ? await deps.onAdmit(verified.principal, connection.request)
          : verified.principal
      deps.checkPermissions(principal, connection.endpointPermissions)
      if (!connection.open) return
      connection.principal = principal
      this.extend(connection, verified.expiresAt)
      connection.send({ type: FrameType.Refreshed, expiresAt: verified.expiresAt })
    } catch (error) {
      if (error instanceof ForbiddenError) {
        connection.closeWith('server', error.closeCode, error.code)
        return
      }
      if (!(error instanceof MessageError || error instanceof UnauthorizedError)) {
        deps.onError(error, connection as LiveConnection<never>)
      }
      connection.send(errorFrame(error, FrameType.Refresh))
    }
  }
}
