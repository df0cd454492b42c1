/**
 * Session resumption on the client: the session the server started (`$session`) and the stream
 * positions seen since, the query parameters that resume it on the next connect while it has
 * not expired, and the `session` and `resumed` events.
 *
 * @module
 */
import type { Envelope, SessionFrame } from '@ws-warden/protocol'
import {
  encodePositions,
  formatResume,
  positionOf,
  POSITIONS_QUERY_PARAM,
  RESUME_QUERY_PARAM,
} from '@ws-warden/protocol'
import type { Emitter } from './emitter.js'
import { BadFrameError } from './errors.js'
import type { ClientEvents } from './events.js'
import { StreamPositions } from './positions.js'

interface Session {
  readonly id: string
  readonly resume: string
  readonly ttlMs: number
}

/** The session to resume, its positions, and when its connection was lost. */
export class Resumption {
  private readonly positions = new StreamPositions()
  private session: Session | undefined
  private lostAt = 0

  /** `enabled`: the `resume` option. */
  constructor(
    private readonly enabled: boolean,
    private readonly emitter: Emitter<ClientEvents>,
  ) {}

  /** The current session's id, once the server sent one. */
  get id(): string | undefined {
    return this.session?.id
  }

  /** The open connection was lost at `now`: the session's `ttlMs` runs from then. */
  lost(now: number): void {
    this.lostAt = now
  }

  /**
   * The query parameters that resume the session on a connect at `now` (the credential, and the
   * positions when there are any); undefined when there is nothing to resume. A session that can
   * no longer be resumed (expired, or resumption off) is forgotten.
   */
  params(now: number): string[] | undefined {
    const session = this.session
    const resumable = this.enabled && session && now - this.lostAt < session.ttlMs
    if (session && !resumable) this.forget()
    if (!resumable) return undefined
    const params = [
      `${RESUME_QUERY_PARAM}=${encodeURIComponent(formatResume(session.id, session.resume))}`,
    ]
    if (this.positions.size > 0) {
      params.push(`${POSITIONS_QUERY_PARAM}=${encodePositions(this.positions.toJSON())}`)
    }
    return params
  }

  /** Records the position of an application frame that carries one (`$s` and `$q`). */
  record(frame: Envelope): void {
    const position = positionOf(frame)
    if (position) this.positions.record(position.stream, position.seq)
  }

  /** The server's `$session` frame: keeps the session and emits `session` (and `resumed`). */
  started(frame: SessionFrame): void {
    if (
      typeof frame.id !== 'string' ||
      typeof frame.resume !== 'string' ||
      typeof frame.ttlMs !== 'number'
    ) {
      this.emitter.emit('error', new BadFrameError())
      return
    }
    this.session = { id: frame.id, resume: frame.resume, ttlMs: frame.ttlMs }
    const resumed = frame.resumed === true
    if (!resumed) {
      this.positions.clear()
      this.emitter.emit('session', {
        id: frame.id,
        resumed,
        complete: true,
        missed: 0,
        channels: [],
      })
      return
    }
    const detail = {
      complete: frame.complete === true,
      missed: typeof frame.missed === 'number' ? frame.missed : 0,
      channels: Array.isArray(frame.channels) ? frame.channels : [],
    }
    this.emitter.emit('session', { id: frame.id, resumed, ...detail })
    this.emitter.emit('resumed', detail)
  }

  private forget(): void {
    this.session = undefined
    this.positions.clear()
  }
}
