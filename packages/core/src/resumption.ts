/**
 * Session resumption: a client that lost its connection reconnects within a TTL with its resume
 * credential and the last position it saw in each stream, and gets back its channels, its data and
 * every fan-out frame it missed, in order, with no duplicates and nothing skipped, on any instance
 * sharing the stores.
 *
 * How it works:
 * - every fan-out frame is appended, once, to its stream's history (`HistoryStore`) and carries
 *   its position (`$s`, `$q`);
 * - each connection has a session whose state (channels, per-stream floors, data) is saved in the
 *   `ResumeStore` when it starts, on join and leave, and when it ends; heartbeats push its expiry
 *   forward, so that it outlives a crashed instance by the TTL;
 * - a reconnect claims the session atomically (single use), rejoins the channels (re-authorized),
 *   reads each stream after `max(floor, client position)` and replays before anything else: live
 *   frames are held meanwhile and those already replayed are dropped.
 *
 * @module
 */
import type { SessionFrame } from '@ws-warden/protocol'
import {
  decodePositions,
  FrameType,
  parseResume,
  POSITIONS_QUERY_PARAM,
  RESUME_QUERY_PARAM,
  streamOf,
  subprotocolVersion,
  withPosition,
} from '@ws-warden/protocol'
import type { LiveConnection } from './connection.js'
import { newId } from './ids.js'
import type { ClaimedSession } from './session.js'
import { decodeState, encodeState, hashCredential, SessionHandle } from './session.js'
import type { StoreCall } from './store-guard.js'
import type { ResumeOutcome } from './observer.js'
import type { ResumeInfo } from './types.js'
import type { ResumptionOptions } from './resumption-options.js'
import type {
  ExpiredSession,
  HistoryLimits,
  HistoryStore,
  ResumableSession,
  ResumeStore,
} from './store-contracts.js'

/** Floors that skip no held frame. */
const NO_FLOORS: ReadonlyMap<string, number> = new Map()

/** Frames to send before anything held, and the floors that make held duplicates recognizable. */
export interface SessionStart {
  readonly first: string[]
  readonly floors: ReadonlyMap<string, number>
  /** Present for a resumption: what it restored. */
  readonly resumed?: ResumeInfo
}

export interface ResumptionDeps<TData> {
  readonly options: Required<ResumptionOptions>
  readonly history: HistoryStore
  readonly resumes: ResumeStore
  readonly guard: StoreCall
  readonly now: () => number
  /** How much longer than the TTL a live session's expiry is pushed (one heartbeat cycle). */
  readonly liveMarginMs: number
  /**
   * Resolves once this instance receives what other instances publish on these streams, so that
   * every frame after a read is either in the read or delivered live.
   */
  readonly subscribed: (streams: readonly string[]) => Promise<void>
  /** Rejoins a channel during a resumption (authorized, no new floor); false if refused. */
  readonly rejoin: (connection: LiveConnection<TData>, channel: string) => Promise<boolean>
  /** Why a claim failed (metrics). */
  readonly outcome: (outcome: ResumeOutcome) => void
}

/** The resumption engine; the warden owns one when `resumption` is on. */
export class Resumption<TData> {
  readonly limits: HistoryLimits
  /** Head reads in flight, by stream: connections starting at once share one (`all`, above all). */
  readonly #heads = new Map<string, Promise<number>>()

  constructor(private readonly deps: ResumptionDeps<TData>) {
    this.limits = { maxLength: deps.options.maxMessages, ttlMs: deps.options.ttlMs }
  }

  get ttlMs(): number {
    return this.deps.options.ttlMs
  }

  // --- admission ---

  /**
   * Claims the session named in the request's `ws_resume`, for `userId`. Undefined when the
   * request names none, or when the claim fails (unknown, expired, used, another user's).
   */
  async claim(url: string, userId: string): Promise<ClaimedSession | undefined> {
    const params = new URLSearchParams(url.slice(url.indexOf('?') + 1))
    const raw = params.get(RESUME_QUERY_PARAM)
    if (raw === null) return undefined
    const { deps } = this
    const resume = parseResume(raw)
    if (!resume) return this.failed('malformed')
    const hash = hashCredential(userId, resume.credential)
    const record = await deps
      .guard('resumes', 'claim', () => deps.resumes.claim(resume.id, hash))
      .catch((error: unknown) => {
        deps.outcome('store_unavailable')
        throw error
      })
    if (!record) return this.failed('unknown')
    if (record.userId !== userId) return this.failed('wrong_user')
    const state = decodeState(record.state)
    if (!state) return this.failed('invalid_state')
    const positions = decodePositions(params.get(POSITIONS_QUERY_PARAM) ?? '') ?? {}
    return { record, state, positions }
  }

  /** Gives a claimed session back (its upgrade never happened), with its old credential. */
  unclaim(claimed: ClaimedSession): Promise<void> {
    return this.deps.guard('resumes', 'save', () => this.deps.resumes.save(claimed.record))
  }

  // --- a connection's session ---

  /** The session of a new connection: the claimed one, or a fresh one. */
  handle(connection: LiveConnection<TData>, claimed: ClaimedSession | undefined): SessionHandle {
    return new SessionHandle(claimed?.record.id ?? newId(), connection.userId)
  }

  /**
   * Starts a connection's session: a fresh one records where each stream stands; a claimed one
   * rejoins its channels and reads what was missed. Either saves the session, then returns the
   * frames to send first (`$session`, then the replay). Store failures reject.
   */
  async start(
    connection: LiveConnection<TData>,
    session: SessionHandle,
    claimed: ClaimedSession | undefined,
  ): Promise<SessionStart | undefined> {
    const streams = [streamOf.all, streamOf.user(connection.userId)]
    await this.deps.subscribed(streams)
    if (!claimed) {
      const heads = await Promise.all(streams.map((stream) => this.head(stream)))
      streams.forEach((stream, index) => session.floors.set(stream, heads[index] as number))
      if (!connection.open) return undefined
      await this.save(connection, session, 'insert')
      const frame: SessionFrame = {
        type: FrameType.Session,
        version: subprotocolVersion(connection.socket.protocol),
        id: session.id,
        resume: session.credential,
        ttlMs: this.ttlMs,
        resumed: false,
      }
      // Nothing is replayed, so no frame held meanwhile repeats one sent first: every one goes out
      // (one published after the subscription but before the heads were read sits at or below them).
      return { first: [JSON.stringify(frame)], floors: NO_FLOORS }
    }
    const { state, positions } = claimed
    const restored: string[] = []
    let complete = true
    for (const channel of state.ch) {
      if (await this.deps.rejoin(connection, channel)) restored.push(channel)
      else complete = false
    }
    for (const channel of restored) streams.push(streamOf.channel(channel))
    const excluded = new Set([state.c, session.id])
    const replay: string[] = []
    const reads = await Promise.all(
      streams.map(async (stream) => {
        const floor = state.f[stream]
        const position = positions[stream]
        if (floor === undefined && position === undefined) {
          // Saved while its join was under way: where the session started in it is unknown, so
          // it starts now, and the resumption cannot claim to be complete.
          complete = false
          return { stream, from: await this.head(stream), read: { entries: [], complete: true } }
        }
        const from = Math.max(floor ?? 0, position ?? 0)
        return { stream, from, read: await this.read(stream, from) }
      }),
    )
    for (const { stream, from, read } of reads) {
      complete &&= read.complete
      let floor = from
      for (const entry of read.entries) {
        floor = entry.seq
        if (entry.except?.some((id) => excluded.has(id))) continue
        replay.push(withPosition(entry.frame, stream, entry.seq))
      }
      session.floors.set(stream, Math.max(session.floors.get(stream) ?? 0, floor))
    }
    if (!connection.open) {
      await this.unclaim(claimed)
      return undefined
    }
    await this.save(connection, session, 'insert')
    const frame: SessionFrame = {
      type: FrameType.Session,
      version: subprotocolVersion(connection.socket.protocol),
      id: session.id,
      resume: session.credential,
      ttlMs: this.ttlMs,
      resumed: true,
      complete,
      missed: replay.length,
      channels: restored,
    }
    return {
      first: [JSON.stringify(frame), ...replay],
      floors: session.floors,
      resumed: { complete, missed: replay.length, channels: restored },
    }
  }

  /** A channel was joined: replay of it starts from its current position. */
  async joined(
    connection: LiveConnection<TData>,
    session: SessionHandle,
    channel: string,
  ): Promise<void> {
    const stream = streamOf.channel(channel)
    const head = await this.head(stream)
    if (!session.floors.has(stream)) session.floors.set(stream, head)
    await this.save(connection, session, 'update')
  }

  /** A channel was left. */
  async left(
    connection: LiveConnection<TData>,
    session: SessionHandle,
    channel: string,
  ): Promise<void> {
    session.floors.delete(streamOf.channel(channel))
    await this.save(connection, session, 'update')
  }

  /**
   * The connection ended: keep its session for `ttlMs` (a final snapshot of channels and data), or
   * drop it when the end was final.
   */
  async ended(
    connection: LiveConnection<TData>,
    session: SessionHandle,
    final: boolean,
  ): Promise<void> {
    if (!session.ready) return
    if (final) {
      await (session.saving = session.saving.then(() =>
        this.deps
          .guard('resumes', 'remove', () => this.deps.resumes.remove(session.id))
          .then(() => undefined),
      ))
      return
    }
    await this.save(connection, session, 'update', this.deps.now() + this.ttlMs)
  }

  /**
   * Removes expired sessions (resolving them, for `onResumeExpired`) and expired history, from
   * the heartbeat. Each expired session is resolved by one instance only.
   */
  async sweep(now: number): Promise<ExpiredSession[]> {
    const { deps } = this
    const [expired] = await Promise.all([
      deps.guard('resumes', 'sweep', () => deps.resumes.sweep(now)),
      deps.guard('history', 'sweep', () => deps.history.sweep(now)),
    ])
    return expired
  }

  /** Pushes the expiry of live sessions forward (from the heartbeat, batched). */
  touch(sessions: readonly string[], now: number): Promise<void> {
    const expiresAt = now + this.ttlMs + this.deps.liveMarginMs
    return this.deps.guard('resumes', 'touch', () => this.deps.resumes.touch(sessions, expiresAt))
  }

  // --- fan-out ---

  /** Appends a fan-out frame to its stream; resolves its seq. */
  append(stream: string, text: string, except: readonly string[] | undefined): Promise<number> {
    const { history } = this.deps
    return this.deps.guard('history', 'append', () =>
      history.append(stream, text, this.limits, except),
    )
  }

  // --- internal ---

  /** Reports why a claim failed; the request then starts a fresh session. */
  private failed(outcome: ResumeOutcome): undefined {
    this.deps.outcome(outcome)
    return undefined
  }

  /**
   * Where a stream stands. A caller that finds a read of the same stream in flight shares it: its
   * answer may then be lower than a read of its own, never higher, and a floor that is lower can
   * only replay more after a reconnect (what was published in the meantime), never less.
   */
  private head(stream: string): Promise<number> {
    let pending = this.#heads.get(stream)
    if (pending === undefined) {
      pending = this.deps
        .guard('history', 'head', () => this.deps.history.head(stream))
        .finally(() => this.#heads.delete(stream))
      this.#heads.set(stream, pending)
    }
    return pending
  }

  private read(stream: string, afterSeq: number) {
    return this.deps.guard('history', 'read', () => this.deps.history.read(stream, afterSeq))
  }

  /**
   * Writes the session's current state, after any save already under way. `insert` creates it
   * (and makes it ready); `update` only replaces a session still in the store, so that a session
   * claimed elsewhere in the meantime is never brought back with its used credential.
   */
  private save(
    connection: LiveConnection<TData>,
    session: SessionHandle,
    mode: 'insert' | 'update',
    expiresAt = this.deps.now() + this.ttlMs + this.deps.liveMarginMs,
  ): Promise<void> {
    if (mode === 'update' && !session.ready) return session.saving
    const { resumes } = this.deps
    const write = async (): Promise<void> => {
      const record: ResumableSession = {
        id: session.id,
        userId: connection.userId,
        credentialHash: session.credentialHash,
        state: encodeState(connection, session),
        expiresAt,
      }
      if (mode === 'insert') {
        await this.deps.guard('resumes', 'save', () => resumes.save(record))
        session.ready = true
      } else {
        await this.deps.guard('resumes', 'update', () => resumes.update(record))
      }
    }
    const next = session.saving.then(write, write)
    session.saving = next.catch(() => undefined)
    return next
  }
}
