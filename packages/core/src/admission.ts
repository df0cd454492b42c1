/**
 * The admission pipeline: from an upgrade request to a ticket or a typed rejection (origin, rate
 * limits, token, replay, permissions, caps, the session reservation and its resumption claim).
 *
 * @module
 */
import { ErrorCode, TOKEN_QUERY_PARAM } from '@ws-warden/protocol'
import { ipRateLimitKey } from './adapter/client-ip.js'
import { checkSubprotocols } from './adapter/subprotocol.js'
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
import { originAllowed } from './origins.js'
import type { ResolvedOptions, WardenHooks } from './options.js'
import { ComposedAdmission, hitAttempts } from './composed-admission.js'
import { AdmissionBatcher } from './admission-batch.js'
import type {
  AdmissionStore,
  AdmitRequest,
  AdmitResult,
  AttemptCounter,
  ConnectionCaps,
  RateLimitStore,
  SessionRecord,
  SessionStore,
  TokenStore,
} from './store-contracts.js'
import type { ClaimedSession } from './session.js'
import { MemoryAdmissionStore } from './memory/admission.js'
import type { StoreCall } from './store-guard.js'
import { storeFailure } from './store-guard.js'
import type { ConnectTokens, VerifiedToken } from './tokens.js'
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
  /** The stores' own one-trip admission; without it, the three calls are composed. */
  readonly admission?: AdmissionStore | undefined
  /** How `admission` is called; `guard` unless it is in process (no timeout needed). */
  readonly admissionCall?: StoreCall | undefined
  readonly hooks: WardenHooks<never>
  readonly resolveIp: (request: UpgradeRequest) => string
  readonly guard: StoreCall
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
 * The admission pipeline, cheapest check first: shutdown, origin, subprotocol, token verify,
 * then one store step ({@link AdmissionStore.admit}: attempts per IP and per user, the
 * single-use consume and the capped session insert), so a handshake costs one round trip where the stores allow. With
 * an `onAdmit` hook the insert waits for the hook and the permission check: a second trip.
 * Every rejection is returned as a value carrying its HTTP status and close code; nothing here
 * throws.
 */
export class Admitter {
  readonly pending = new Map<string, PendingTicket>()
  readonly #admit: (request: AdmitRequest) => Promise<AdmitResult>
  /** The store step in this tick, when the stores and hooks allow it (see `admitNow`). */
  readonly #admitSync: ((request: AdmitRequest) => AdmitResult) | undefined
  readonly #caps: ConnectionCaps

  constructor(private readonly deps: AdmissionDeps) {
    const { admission } = deps
    if (admission === undefined) {
      const composed = new ComposedAdmission(
        { sessions: deps.sessions, tokens: deps.tokenStore, rateLimits: deps.rateLimits },
        deps.guard,
      )
      this.#admit = (request) => composed.admit(request)
    } else {
      if (
        admission.sessions !== deps.sessions ||
        admission.tokens !== deps.tokenStore ||
        admission.rateLimits !== deps.rateLimits
      ) {
        throw new TypeError(
          'ws-warden: stores.admission must work on the very stores given as stores.sessions, stores.tokens and stores.rateLimits',
        )
      }
      const call = deps.admissionCall ?? deps.guard
      const batcher =
        admission instanceof MemoryAdmissionStore
          ? undefined
          : AdmissionBatcher.of(admission, (requests) =>
              call('admission', 'admitMany', () => admission.admitMany!(requests)),
            )
      this.#admit = batcher
        ? (request) => batcher.admit(request)
        : (request) => call('admission', 'admit', () => admission.admit(request))
    }
    this.#admitSync =
      admission instanceof MemoryAdmissionStore &&
      deps.tokens.verifiesNow &&
      deps.hooks.onAdmit === undefined &&
      deps.claimSession === undefined
        ? (request) => admission.admitSync(request)
        : undefined
    const { limits } = deps.options
    this.#caps = {
      perUser: limits.connectionsPerUser,
      perIp: limits.connectionsPerIp,
      total: limits.maxConnections,
    }
  }

  async admit(request: UpgradeRequest, endpoint: EndpointOptions = {}): Promise<Admission> {
    const { deps } = this
    const ip = ipRateLimitKey(deps.resolveIp(request))
    let userId = request.userId
    try {
      this.precheck(request)
      const verified = await this.verify(request, ip)
      userId = verified.principal.userId
      let principal = verified.principal
      const { permissions } = deps.options
      const required = endpoint.permissions ?? []
      // Without an onAdmit hook the principal is final now, so its record goes in the same trip.
      const record =
        deps.hooks.onAdmit === undefined && holdsAll(principal, permissions, required)
          ? this.newRecord(principal, ip)
          : undefined
      // Nothing can change the user now either, so the session a reconnect resumes is claimed
      // during the same trip, and given back if the admission is refused.
      const claiming =
        record && deps.claimSession ? settle(deps.claimSession(request.url, userId)) : undefined
      try {
        const answer = await this.#admit(this.admitRequest(verified, ip, record))
        if (!answer.ok) throw refusal(answer)
      } catch (error) {
        void claiming?.then((claimed) => {
          if (claimed.ok && claimed.value) deps.unclaimSession?.(claimed.value)
        })
        throw error
      }
      let reserved = record
      if (reserved === undefined) {
        if (deps.hooks.onAdmit) principal = await deps.hooks.onAdmit(principal, request)
        checkPermissions(principal, permissions, required)
        reserved = this.newRecord(principal, ip)
        const added = await deps.guard('sessions', 'add', () =>
          deps.sessions.add(reserved as SessionRecord, this.#caps),
        )
        if (!added.ok) throw new ConnectionLimitError(added.limit)
      }
      const ticket = this.ticket(reserved, principal, verified.expiresAt, request, required)
      if (deps.claimSession) {
        const claimed = await (claiming ?? settle(deps.claimSession(request.url, principal.userId)))
        if (!claimed.ok) {
          ticket.release()
          throw claimed.error
        }
        ticket.resumed = claimed.value
      }
      return { ok: true, ticket }
    } catch (caught) {
      return this.rejected(caught, ip, userId)
    }
  }

  /**
   * {@link admit}, answered in this tick when every step can be: an HS256 token, the memory
   * stores' one-step admission (`admitSync`), no `onAdmit` hook and no resumption claim. A
   * refused token, and every other setup, takes the promise `admit` gives.
   */
  admitNow(
    request: UpgradeRequest,
    endpoint: EndpointOptions = {},
  ): Admission | Promise<Admission> {
    const admitSync = this.#admitSync
    if (admitSync === undefined) return this.admit(request, endpoint)
    const { deps } = this
    const ip = ipRateLimitKey(deps.resolveIp(request))
    let userId = request.userId
    try {
      this.precheck(request)
      let verified: VerifiedToken
      try {
        // Synchronous: #admitSync exists only when the tokens verify now.
        verified = deps.tokens.verifyNow(readToken(request.url)) as VerifiedToken
      } catch {
        // The refusal, with its attempts counted, the way admit gives it.
        return this.admit(request, endpoint)
      }
      if (userId !== undefined && userId !== verified.principal.userId) {
        return this.admit(request, endpoint)
      }
      const { principal } = verified
      userId = principal.userId
      const required = endpoint.permissions ?? []
      if (!holdsAll(principal, deps.options.permissions, required)) {
        return this.admit(request, endpoint)
      }
      const record = this.newRecord(principal, ip)
      let answer: AdmitResult
      try {
        answer = admitSync(this.admitRequest(verified, ip, record))
      } catch (error) {
        throw storeFailure('admission', error)
      }
      if (!answer.ok) throw refusal(answer)
      return {
        ok: true,
        ticket: this.ticket(record, principal, verified.expiresAt, request, required),
      }
    } catch (caught) {
      return this.rejected(caught, ip, userId)
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

  /** The checks before the token: shutdown, origin, subprotocols. */
  private precheck(request: UpgradeRequest): void {
    if (this.deps.isClosing()) throw new ShuttingDownError()
    this.checkOrigin(request)
    checkSubprotocols(request.headers)
  }

  /** What the admission step is asked: the attempts, the token, and the record if it goes in. */
  private admitRequest(
    verified: VerifiedToken,
    ip: string,
    record: SessionRecord | undefined,
  ): AdmitRequest {
    const userId = verified.principal.userId
    return {
      attempts: this.attempts(ip, userId),
      windowMs: this.deps.options.limits.connectWindowMs,
      userId,
      jti: verified.jti,
      tokenExpiresAt: verified.expiresAt,
      ...(record && { session: { record, caps: this.#caps } }),
    }
  }

  /** A refusal as admission answers it, reported to the `onReject` hook. */
  private rejected(caught: unknown, ip: string, userId: string | undefined): Admission {
    const error = asWardenError(caught)
    this.deps.hooks.onReject?.(userId === undefined ? { error, ip } : { error, ip, userId })
    return { ok: false, error }
  }

  private checkOrigin(request: UpgradeRequest): void {
    const policy = this.deps.options.origins
    if (!policy) return
    const origin = request.headers.origin
    if (origin === undefined) return
    if (typeof origin !== 'string' || !originAllowed(policy, origin, request)) {
      throw new OriginNotAllowedError()
    }
  }

  /**
   * Verifies the request's token against the user the request already names, if any. A token
   * that fails still costs the attempts counted before it was read: the IP's, and the user's
   * when the request names one (an IP over its limit is told so, whatever its token).
   */
  private async verify(request: UpgradeRequest, ip: string): Promise<VerifiedToken> {
    const { deps } = this
    let verified: VerifiedToken
    try {
      verified = await deps.tokens.verify(readToken(request.url))
      if (request.userId !== undefined && request.userId !== verified.principal.userId) {
        throw new UnauthorizedError(ErrorCode.TokenInvalid, 'token was issued to another user')
      }
    } catch (error) {
      const windowMs = deps.options.limits.connectWindowMs
      const attempts = this.attempts(ip, request.userId)
      const refused = await hitAttempts(deps.rateLimits, attempts, windowMs, deps.guard)
      throw refused ? refusal(refused) : error
    }
    return verified
  }

  /** The connect-attempt counters of a handshake: its IP's, then its user's when known. */
  private attempts(ip: string, userId: string | undefined): AttemptCounter[] {
    const { limits } = this.deps.options
    const ipCounter = { key: `connect:ip:${ip}`, limit: limits.connectAttemptsPerIp }
    if (userId === undefined) return [ipCounter]
    return [ipCounter, { key: `connect:user:${userId}`, limit: limits.connectAttemptsPerUser }]
  }

  private newRecord(principal: Principal, ip: string): SessionRecord {
    const now = this.deps.now()
    return {
      id: newId(),
      userId: principal.userId,
      instanceId: this.deps.options.instanceId,
      ip,
      channels: [],
      connectedAt: now,
      lastSeenAt: now,
    }
  }

  /** A ticket for a reserved record, released (with its record) if no upgrade takes it in time. */
  private ticket(
    record: SessionRecord,
    principal: Principal,
    tokenExpiresAt: number,
    request: UpgradeRequest,
    endpointPermissions: readonly string[],
  ): PendingTicket {
    const { deps } = this
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
      ip: record.ip,
      tokenExpiresAt,
      record,
      timer,
      release,
      request,
      endpointPermissions,
      resumed: undefined,
    }
    this.pending.set(record.id, ticket)
    return ticket
  }
}

const TOO_MANY_ATTEMPTS = 'too many connection attempts'

type Settled<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown }

/** A promise's outcome as a value, so that one left unawaited never rejects unhandled. */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  )
}

function refusal(answer: Exclude<AdmitResult, { ok: true }>): WardenError {
  switch (answer.reason) {
    case 'attempts':
      return new RateLimitedError(answer.retryAfterMs, TOO_MANY_ATTEMPTS)
    case 'replayed':
      return new UnauthorizedError(ErrorCode.TokenReplayed, 'token already used')
    case 'limit':
      return new ConnectionLimitError(answer.limit)
  }
}

function holdsAll(
  principal: Principal,
  global: readonly string[],
  endpoint: readonly string[],
): boolean {
  const held = principal.permissions
  return global.every((p) => held.includes(p)) && endpoint.every((p) => held.includes(p))
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
  if (!holdsAll(principal, global, endpoint)) throw new ForbiddenError()
}

/** Reads `?ws_token=` from a request URL (the first one, as `URLSearchParams`); '' when absent. */
export function readToken(url: string): string {
  const query = url.indexOf('?')
  if (query === -1) return ''
  const search = url.slice(query + 1)
  // Without '%' or '+' no name or value needs decoding (tokens are base64url): split by hand.
  if (search.includes('%') || search.includes('+')) {
    return new URLSearchParams(search).get(TOKEN_QUERY_PARAM) ?? ''
  }
  for (const pair of search.split('&')) {
    const equals = pair.indexOf('=')
    const name = equals === -1 ? pair : pair.slice(0, equals)
    if (name === TOKEN_QUERY_PARAM) return equals === -1 ? '' : pair.slice(equals + 1)
  }
  return ''
}

function asWardenError(error: unknown): WardenError {
  if (error instanceof WardenError) return error
  return new WardenError(ErrorCode.Internal, 'internal error', 500, 1011, { cause: error })
}
