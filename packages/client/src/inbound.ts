/**
 * The routing of what the server sends: an application message has its stream position recorded
 * and is emitted; a reserved frame goes to the part that owns it (`$session` to resumption,
 * `$refresh` and `$refreshed` to token refresh; `$pong` and the reserved frames of later
 * versions are proof of life only); an `error` answering one of the client's own frames is not
 * the application's; anything else is a `BadFrameError`.
 *
 * @module
 */
import type { Envelope, SessionFrame } from '@ws-warden/protocol'
import { FrameType, isReservedType } from '@ws-warden/protocol'
import type { Emitter } from './emitter.js'
import { BadFrameError } from './errors.js'
import type { ClientEvents } from './events.js'
import { answersOwnFrame, parseFrame } from './frames.js'
import type { TokenRefresh } from './refresh.js'
import type { Resumption } from './resumption.js'

/** Routes each inbound frame of the current connection. */
export class Inbound {
  constructor(
    private readonly emitter: Emitter<ClientEvents>,
    private readonly resumption: Resumption,
    private readonly refresh: TokenRefresh,
  ) {}

  /** One message event's data. */
  received(data: unknown): void {
    const frame = parseFrame(data)
    if (frame === undefined) {
      this.emitter.emit('error', new BadFrameError())
    } else if (isReservedType(frame.type)) {
      this.reserved(frame)
    } else if (answersOwnFrame(frame)) {
      if (frame.for === FrameType.Refresh) this.refresh.refused(frame)
    } else {
      this.resumption.record(frame)
      this.emitter.emit('message', frame)
    }
  }

  private reserved(frame: Envelope): void {
    switch (frame.type) {
      case FrameType.Session:
        this.resumption.started(frame as unknown as SessionFrame)
        return
      case FrameType.Refresh:
        this.refresh.requested()
        return
      case FrameType.Refreshed:
        this.refresh.refreshed(frame)
        return
      default:
      // `$pong`, and reserved frames of later versions: proof of life, nothing more.
    }
  }
}
