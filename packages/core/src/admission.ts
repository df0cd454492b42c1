/**
 * The admission pipeline: from an upgrade request to a ticket or a typed rejection (origin, rate
 * limits, token, replay, permissions, caps, the session reservation and its resumption claim).
 */
import { ErrorCode, TOKEN_QUERY_PARAM } from '@ws-warden/protocol'
import { ipRateLimitKey } from './client-ip.js'
import {
  ConnectionLimitError,
  ForbiddenError,
  OriginNotAllowedError,
  RateLimitedError,
  ShuttingDownError,
  UnauthorizedError,
  WardenError,
} from './errors.js'
import { newId } from './ids.js'
import type { ResolvedOptions, WardenHooks } from './options.js'
import type { RateLimitStore, SessionRecord, SessionStore, TokenStore } from './store-contracts.js'
import type { ClaimedSession } from './session.js'
import type { ConnectTokens } from './tokens.js'
import type { Admission, EndpointOptions, Principal, Ticket, UpgradeRequest } from './types.js'

/** How long an admitted request may wait for its upgrade before its reservation is dropped. */
export const TICKET_TTL_MS = 10_000

/** What admission needs; the warden hands it its own stores and options. */
export interface AdmissionDeps {
  readonly options: ResolvedOptions
  readonly tokens: ConnectTokens
  readonly sessions: SessionStore
  readonly tokenStore: TokenStore
  readonly rateLimits: RateLimitStore
  readonly hooks: WardenHooks<never>
  readonly resolveIp: (request: UpgradeRequest) => string
  readonly guard: <T>(store: string, operation: () => Promise<T>) => Promise<T>
  readonly now: () => number
  readonly isClosing: () => boolean
  /** Removes a reservation that never became a connection. */
  readonly dropReservation: (id: string) => void
  /** Claims the session a request asks to resume (resumption on); undefined if it cannot. */
  readonly claimSession?: (url: string, userId: string) => Promise<ClaimedSession | undefined>
  /** Gives a claimed session back: its ticket was released without an upgrade. */
  readonly unclaimSession?: (claimed: ClaimedSession) => void
}

/** A ticket that is still waiting for its upgrade. */
export interface PendingTicket extends Ticket {
  readonly record: SessionRecord
  readonly timer: NodeJS.Timeout
  readonly request: UpgradeRequest
  /** The endpoint's own required permissions (re-checked at a token refresh). */
  readonly endpointPermissions: readonly string[]
  /** The session this connection resumes, claimed at admission. */
  resumed: ClaimedSession | undefined
}

/**
 * The admission pipeline, cheapest check first: shutdown, origin, attempts per IP, token verify,
 * attempts per user, single-use consume, the `onAdmit` hook, endpoint permissions, then the
 * connection caps, checked and reserved in one atomic store call. Every rejection is returned
 * as a value carrying its HTTP status and close code; nothing here throws.
 */
export class Admitter {
  readonly pending = new Map<string, PendingTicket>()

  constructor(private readonly deps: AdmissionDeps) {}

  async admit(request: UpgradeRequest, endpoint: EndpointOptions = {}): Promise<Admission> {
    const { deps } = this
    const ip = ipRateLimitKey(deps.resolveIp(request))
    let userId = request.userId
    try {
      if (deps.isClosing()) throw new ShuttingDownError()
      this.checkOrigin(request)
      await this.countAttempt(`connect:ip:${ip}`, deps.options.limits.connectAttemptsPerIp)
      if (userId !== undefined) {
        await this.countAttempt(
          `connect:user:${userId}`,
          deps.options.limits.connectAttemptsPerUser,
        )
      }
      const verified = await deps.tokens.verify(readToken(request.url))
      if (userId === undefined) {
        userId = verified.principal.userId
        await this.countAttempt(
          `connect:user:${userId}`,
          deps.options.limits.connectAttemptsPerUser,
        )
      } else if (userId !== verified.principal.userId) {
        throw new UnauthorizedError(ErrorCode.TokenInvalid, 'token was issued to another user')
      }
      const fresh = await deps.guard('tokens', () =>
        deps.tokenStore.consume(verified.jti, verified.expiresAt),
      )
      if (!fresh) throw new UnauthorizedError(ErrorCode.TokenReplayed, 'token already used')
      const principal = deps.hooks.onAdmit
        ? await deps.hooks.onAdmit(verified.principal, request)
        : verified.principal
      checkPermissions(principal, deps.options.permissions, endpoint.permissions ?? [])
      const ticket = await this.reserve(principal, ip, verified.expiresAt, request, endpoint)
      if (deps.claimSession) {
        try {
          ticket.resumed = await deps.claimSession(request.url, principal.userId)
        } catch (error) {
          ticket.release()
          throw error
        }
      }
      return { ok: true, ticket }
    } catch (caught) {
      const error = asWardenError(caught)
      deps.hooks.onReject?.(userId === undefined ? { error, ip } : { error, ip, userId })
      return { ok: false, error }
    }
  }

  /** Takes a pending ticket for attaching; undefined if it expired or was released. */
  claim(ticket: Ticket): PendingTicket | undefined {
    const pending = this.pending.get(ticket.id)
    if (!pending || pending !== ticket) return undefined
    this.pending.delete(ticket.id)
    clearTimeout(pending.timer)
    return pending
  }

  /** Drops every pending ticket (shutdown). */
  releaseAll(): void {
    for (const ticket of [...this.pending.values()]) ticket.release()
  }

  private checkOrigin(request: UpgradeRequest): void {
    const allowed = this.deps.options.origins
    if (!allowed) return
    const origin = request.headers.origin
    if (origin === undefined) return
    if (typeof origin !== 'string' || !allowed.has(origin)) throw new OriginNotAllowedError()
  }

  private async countAttempt(key: string, limit: number): Promise<void> {
    const { deps } = this
    const result = await deps.guard('rateLimits', () =>
      deps.rateLimits.hit(key, limit, deps.options.limits.connectWindowMs),
    )
    if (!result.allowed)
      throw new RateLimitedError(result.retryAfterMs, 'too many connection attempts')
  }

  private async reserve(
    principal: Principal,
    ip: string,
    tokenExpiresAt: number,
    request: UpgradeRequest,
    endpoint: EndpointOptions,
  ): Promise<PendingTicket> {
    const { deps } = this
    const now = deps.now()
    const record: SessionRecord = {
      id: newId(),
      userId: principal.userId,
      instanceId: deps.options.instanceId,
      ip,
      channels: [],
      connectedAt: now,
      lastSeenAt: now,
    }
    const { limits } = deps.options
    const result = await deps.guard('sessions', () =>
      deps.sessions.add(record, {
        perUser: limits.connectionsPerUser,
        perIp: limits.connectionsPerIp,
        total: limits.maxConnections,
      }),
    )
    if (!result.ok) throw new ConnectionLimitError(result.limit)
    const release = (): void => {
      if (this.pending.get(record.id) !== ticket) return
      this.pending.delete(record.id)
      clearTimeout(ticket.timer)
      deps.dropReservation(record.id)
      if (ticket.resumed) deps.unclaimSession?.(ticket.resumed)
    }
    const timer = setTimeout(release, TICKET_TTL_MS)
    timer.unref()
    const ticket: PendingTicket = {
      id: record.id,
      principal,
      ip,
      tokenExpiresAt,
      record,
      timer,
      release,
      request,
      endpointPermissions: endpoint.permissions ?? [],
      resumed: undefined,
    }
    this.pending.set(record.id, ticket)
    return ticket
  }
}

/**
 * Throws `ForbiddenError` unless the principal holds every permission of the warden (`global`)
 * and of the endpoint.
 */
export function checkPermissions(
  principal: Principal,
  global: readonly string[],
  endpoint: readonly string[],
): void {
  const held = principal.permissions
  for (const required of [...global, ...endpoint]) {
    if (!held.includes(required)) throw new ForbiddenError()
  }
}

/** Reads `?ws_token=` from a request URL; '' when absent. */
export function readToken(url: string): string {
  const query = url.indexOf('?')
  if (query === -1) return ''
  return new URLSearchParams(url.slice(query + 1)).get(TOKEN_QUERY_PARAM) ?? ''
}

function asWardenError(error: unknown): WardenError {
  if (error instanceof WardenError) return error
  return new WardenError(ErrorCode.Internal, 'internal error', 500, 1011, { cause: error })
}
