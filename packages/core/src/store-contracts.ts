/**
 * The store contracts. Each is small and separate, so a deployment can mix them (rate limits in
 * Redis, sessions in PostgreSQL). Every method is async; missing data is `null` or `[]`; a
 * failure rejects (the core turns a rejection or a slow answer into a `StoreUnavailableError`).
 * Times are absolute epoch milliseconds, never relative TTLs.
 *
 * @module
 */

/** One live connection as every instance sees it through the store. */
export interface SessionRecord {
  /** Connection id, unique across the cluster. */
  readonly id: string
  readonly userId: string
  /** The instance that holds the socket. */
  readonly instanceId: string
  /** The client's IP as admission resolved it, IPv6 masked to its /64 (the per-IP cap's key). */
  readonly ip: string
  /** Channels joined, in no particular order. */
  readonly channels: readonly string[]
  readonly connectedAt: number
  /** Last proof of life (admission, pong, message); refreshed by batched `touch`. */
  readonly lastSeenAt: number
}

/** Caps checked atomically with an insert. A missing field means "no cap". */
export interface ConnectionCaps {
  readonly perUser?: number
  readonly perIp?: number
  readonly total?: number
}

/** The answer of {@link SessionStore.add}. */
export type AddSessionResult =
  { readonly ok: true } | { readonly ok: false; readonly limit: 'user' | 'ip' | 'total' }

/** Counts across every instance that shares the store. */
export interface SessionStats {
  readonly connections: number
  readonly users: number
  /** Connections per channel, for channels with at least one member. */
  readonly channels: Readonly<Record<string, number>>
}

/** Filter for {@link SessionStore.count}; fields combine with AND. */
export interface SessionFilter {
  readonly userId?: string
  readonly ip?: string
  readonly channel?: string
}

/**
 * The session registry shared by every instance: one record per connection, with caps per user,
 * per IP and in total.
 */
export interface SessionStore {
  /**
   * Inserts a record unless a cap would be exceeded, atomically: concurrent adds on any
   * instance never push a count past its cap. A record with an existing id replaces it.
   */
  add(record: SessionRecord, caps?: ConnectionCaps): Promise<AddSessionResult>
  /** Removes a record; true if it existed. Idempotent. */
  remove(id: string): Promise<boolean>
  /**
   * Removes the records with these ids (unknown ids are ignored; an id may repeat) in as few
   * round trips as the store can; resolves how many records it removed. Optional: a warden
   * gathers the removals of closing connections into these calls (at most 256 ids each) when
   * the store has it, and calls `remove` once per connection when it has not.
   */
  removeMany?(ids: readonly string[]): Promise<number>
  get(id: string): Promise<SessionRecord | null>
  listByUser(userId: string): Promise<SessionRecord[]>
  listByChannel(channel: string): Promise<SessionRecord[]>
  count(filter?: SessionFilter): Promise<number>
  stats(): Promise<SessionStats>
  /** Adds a channel to a record's set; a no-op for an unknown id. */
  join(id: string, channel: string): Promise<void>
  /** Removes a channel from a record's set; a no-op for an unknown id. */
  leave(id: string, channel: string): Promise<void>
  /** Sets `lastSeenAt` of many records in one call; unknown ids are ignored. */
  touch(ids: readonly string[], at: number): Promise<void>
  /** Removes records whose `lastSeenAt` is before `staleBefore`; returns how many. */
  sweep(staleBefore: number): Promise<number>
  /**
   * How many records `sweep(staleBefore)` would remove if it ran now; removes nothing. Optional:
   * what `ws-warden cleanup --dry-run` calls, so a store without it cannot dry-run (it is never
   * replaced by a sweep). A count, not a reservation: records may change before a real sweep.
   */
  countSweepable?(staleBefore: number): Promise<number>
  /** Releases what the store created (not what it was given). */
  close?(): Promise<void>
}

/** The single-use ledger of connect tokens: a `jti` is consumed once across every instance. */
export interface TokenStore {
  /**
   * Records a token id as used. Resolves `true` exactly once per `jti` across every instance
   * sharing the store, `false` for every later call until the record expires at `expiresAt`.
   *
   * `owner` is the user the token was issued to (its `sub`): a store may keep the record by its
   * owner (a sharded store puts it beside the owner's sessions, so that an admission touches
   * fewer slots), and a store that does not ignores it. The core passes the verified principal's
   * user id at every consume, admission and refresh alike, so every call for one `jti` names the
   * same owner, and a store that routes by owner sees every use of a token in one place. Callers
   * of their own must do the same: mixing calls with and without an owner (or with different
   * owners) for one `jti` is not supported, since such calls may land in different places and
   * each resolve `true`.
   */
  consume(jti: string, expiresAt: number, owner?: string): Promise<boolean>
  /** Removes records that expired before `before`; returns how many. */
  sweep(before: number): Promise<number>
  /** How many records `sweep(before)` would remove now; removes nothing. Optional (dry runs). */
  countSweepable?(before: number): Promise<number>
  close?(): Promise<void>
}

/** The answer of {@link RateLimitStore.hit}. */
export interface RateLimitResult {
  readonly allowed: boolean
  /** Hits left in the current window (0 when not allowed). */
  readonly remaining: number
  /** Milliseconds until the window resets; 0 when allowed. */
  readonly retryAfterMs: number
}

/** Fixed-window counters shared by every instance (connect attempts per IP and per user). */
export interface RateLimitStore {
  /**
   * Counts one hit on `key` in a fixed window of `windowMs` that starts at the key's first hit,
   * atomically across instances. The hit that makes the count exceed `limit` is refused, and so
   * is every later one until the window ends. Refused hits still count.
   */
  hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult>
  /** Removes records whose window ended before `before`; returns how many. */
  sweep(before: number): Promise<number>
  /** How many records `sweep(before)` would remove now; removes nothing. Optional (dry runs). */
  countSweepable?(before: number): Promise<number>
  close?(): Promise<void>
}

/** Receives a payload published on a topic. */
export type BrokerHandler = (payload: string) => void

/**
 * Publish/subscribe between instances. Topics are opaque strings; payloads are strings (JSON).
 * A subscriber receives every payload published on its topic after `subscribe` resolved,
 * including its own instance's (the core filters those out).
 */
export interface Broker {
  publish(topic: string, payload: string): Promise<void>
  /** Resolves once the subscription is active, with a function that ends it. */
  subscribe(topic: string, handler: BrokerHandler): Promise<() => Promise<void>>
  close?(): Promise<void>
}

/** Releases a lock; resolves once it is released. Idempotent. */
export type ReleaseLock = () => Promise<void>

/**
 * Named, expiring mutual exclusion across instances (so that of many instances only one sweeps
 * at a time). A holder that crashes loses the lock when its `ttlMs` runs out.
 */
export interface LockStore {
  /**
   * Takes the lock `name` for at most `ttlMs`. Resolves a release function, or `null` at once if
   * another holder has it (never waits for it).
   */
  acquire(name: string, ttlMs: number): Promise<ReleaseLock | null>
  close?(): Promise<void>
}

/** One frame in a stream's history. */
export interface HistoryEntry {
  /** Its place in the stream: a positive safe integer, increasing along the stream. */
  readonly seq: number
  /** The serialized frame (a JSON object's text, without `$s`/`$q`: the core adds them). */
  readonly frame: string
  /** Connection and session ids the frame was not for (`except` of the fan-out); absent if none. */
  readonly except?: readonly string[]
}

/** The bounds of a stream's history, passed with every append (a deployment's settings). */
export interface HistoryLimits {
  /** Entries kept per stream; appending past it drops the oldest. */
  readonly maxLength: number
  /** How long an entry is kept after its append, in ms. */
  readonly ttlMs: number
}

/** The answer of {@link HistoryStore.read}. */
export interface HistoryRead {
  /** The entries still held with `seq > afterSeq`, in ascending `seq`. */
  readonly entries: HistoryEntry[]
  /**
   * False if any entry with `seq > afterSeq` was dropped (trimmed by `maxLength`, expired, or lost
   * with the stream), so that `entries` is not everything that came after `afterSeq`.
   */
  readonly complete: boolean
}

/**
 * Bounded per-stream history of fan-out frames, for resumption. A stream is a topic: `all`,
 * `user:<id>` or `channel:<name>`.
 *
 * Sequence numbers are what make replay exact, so the contract is strict about them: across
 * every instance sharing the store, `append` returns for each stream strictly increasing positive
 * safe integers (gaps are allowed), and never a number at or below one it returned for the same
 * stream before, even after the stream's entries all expired or the stream was evicted. Two
 * appends never get the same `seq` for one stream. An append is visible to `read` once it
 * resolves, and appends to one stream become visible in `seq` order (no reader may see seq 11
 * while seq 10 of the same stream is still being written).
 */
export interface HistoryStore {
  /**
   * Appends a frame to a stream, drops what falls outside `limits`, and resolves to its `seq`.
   * Atomic across instances.
   */
  append(
    stream: string,
    frame: string,
    limits: HistoryLimits,
    except?: readonly string[],
  ): Promise<number>
  /** The entries after `afterSeq` (0 for all) and whether none were dropped. */
  read(stream: string, afterSeq: number): Promise<HistoryRead>
  /**
   * The stream's current position: at least every `seq` it has handed out for this stream, and
   * below every `seq` a later `append` will return. For an unknown stream, any such value (0
   * when the stream never existed).
   */
  head(stream: string): Promise<number>
  /** Removes entries that expired before `before`; returns how many. Never removes live ones. */
  sweep(before: number): Promise<number>
  close?(): Promise<void>
}

/** A resumable session as the store keeps it. */
export interface ResumableSession {
  /** The session id (not a connection id: it survives resumptions). */
  readonly id: string
  readonly userId: string
  /**
   * The SHA-256 (base64url) of the resume credential bound to the user: never the credential.
   * `claim` compares it in constant time.
   */
  readonly credentialHash: string
  /** What the core restores (channels, positions, data), as opaque JSON text. */
  readonly state: string
  /** Epoch ms after which the session can no longer be claimed. */
  readonly expiresAt: number
}

/** A session that expired unclaimed, as {@link ResumeStore.sweep} reports it. */
export interface ExpiredSession {
  readonly id: string
  readonly userId: string
  readonly expiresAt: number
}

/**
 * Resumable sessions. A live connection's session is saved (and its expiry pushed forward by
 * batched `touch`) so that it survives the instance that holds it; a reconnecting client claims it
 * once with its credential.
 */
export interface ResumeStore {
  /** Inserts or replaces the session with this id. */
  save(session: ResumableSession): Promise<void>
  /**
   * Replaces the session with this id only if it is still there (not claimed, swept or removed),
   * atomically; true if it was. A claimed session is never brought back by a late write.
   */
  update(session: ResumableSession): Promise<boolean>
  /**
   * Takes a session for resumption, atomically and once: if `id` exists, has not expired and its
   * `credentialHash` equals the one given (compared in constant time), removes it and resolves it;
   * otherwise resolves `null` and changes nothing. Of concurrent claims, on any instances, at most
   * one resolves the session.
   */
  claim(id: string, credentialHash: string): Promise<ResumableSession | null>
  /** Sets `expiresAt` of many sessions in one call; unknown ids are ignored. */
  touch(ids: readonly string[], expiresAt: number): Promise<void>
  /** Removes a session; true if it existed. Idempotent. */
  remove(id: string): Promise<boolean>
  /**
   * Removes the sessions that expired before `before` and resolves them. Each expired session is
   * resolved by exactly one call, across instances (the core fires `onResumeExpired` for it).
   * Never removes a live one.
   */
  sweep(before: number): Promise<ExpiredSession[]>
  close?(): Promise<void>
}

/** One connect-attempt counter an admission hits: per IP, per user. */
export interface AttemptCounter {
  /** The rate-limit key, as {@link RateLimitStore.hit} takes it. */
  readonly key: string
  readonly limit: number
}

/** What {@link AdmissionStore.admit} is asked to do, in this order, stopping at the first no. */
export interface AdmitRequest {
  /** Counted in order in one window of `windowMs`; the first refusal ends the admission. */
  readonly attempts: readonly AttemptCounter[]
  readonly windowMs: number
  /**
   * The verified principal's user id: the token's owner, passed to {@link TokenStore.consume}
   * (so the same for every admission and refresh of one token), and the user of `session`.
   */
  readonly userId: string
  /** The verified token's id, consumed once (see {@link TokenStore.consume}). */
  readonly jti: string
  readonly tokenExpiresAt: number
  /**
   * The record to insert under its caps (see {@link SessionStore.add}). Absent: the admission
   * only counts and consumes, and the caller inserts later (an `onAdmit` hook runs in between).
   */
  readonly session?: { readonly record: SessionRecord; readonly caps: ConnectionCaps }
}

/** The answer of {@link AdmissionStore.admit}. */
export type AdmitResult =
  | { readonly ok: true }
  /** An attempt counter refused: `key` is the one that did. */
  | {
      readonly ok: false
      readonly reason: 'attempts'
      readonly key: string
      readonly retryAfterMs: number
    }
  /** The token was used before. Its attempts were counted; no session was inserted. */
  | { readonly ok: false; readonly reason: 'replayed' }
  /** A connection cap is full. The token is used up and the attempts counted. */
  | { readonly ok: false; readonly reason: 'limit'; readonly limit: 'user' | 'ip' | 'total' }

/**
 * Admission in one round trip: the connect attempts, the single-use token and the capped session
 * insert of one handshake, as one atomic step where the backend can (a Redis script, one SQL
 * statement). Its answers are exactly those of the three separate calls in order: refused
 * attempts still count, a replayed token inserts nothing, caps are never exceeded.
 *
 * It works on the state of three stores, so it names them: a warden uses it only with those same
 * store objects. Without one, the warden composes the three calls itself.
 */
export interface AdmissionStore {
  readonly sessions: SessionStore
  readonly tokens: TokenStore
  readonly rateLimits: RateLimitStore
  admit(request: AdmitRequest): Promise<AdmitResult>
  /**
   * Several admissions in one round trip, answered as `admit` would answer each of them called
   * one after the other in this order: a later request sees what an earlier one counted, used up
   * and inserted (two requests with one token: the second is `replayed`; a cap filled by an
   * earlier one refuses a later one). The answers are in the order of `requests`, one each; an
   * empty list answers `[]`. It rejects as a whole if the step failed; where the backend allows,
   * nothing of a failed call is kept.
   *
   * Optional: with it, a warden gathers the admissions that arrive while the store is busy (and
   * those of one turn of the event loop) into one call, so a burst of handshakes shares round
   * trips and, on SQL, commits. {@link AdmissionStore.admitManyLimit} bounds one call.
   */
  admitMany?(requests: readonly AdmitRequest[]): Promise<readonly AdmitResult[]>
  /** The most requests one `admitMany` call takes (default 64). */
  readonly admitManyLimit?: number
}

/** The stores a warden uses. Any left out default to the in-process memory implementation. */
export interface WardenStores {
  readonly sessions?: SessionStore
  readonly tokens?: TokenStore
  readonly rateLimits?: RateLimitStore
  readonly broker?: Broker
  readonly locks?: LockStore
  /** Per-stream history of fan-out frames (resumption only). */
  readonly history?: HistoryStore
  /** Resumable sessions (resumption only). */
  readonly resumes?: ResumeStore
  /** One-round-trip admission over `sessions`, `tokens` and `rateLimits` (those very objects). */
  readonly admission?: AdmissionStore
}
