/**
 * Resumption positions: the last sequence number seen in each stream, bounded in how many
 * streams it remembers.
 *
 * @module
 */
import { MAX_POSITIONS, type Positions } from '@ws-warden/protocol'

/**
 * The last sequence number seen in each stream, for resumption. Holds at most
 * {@link MAX_POSITIONS} streams: the ones heard from least recently are forgotten first (the
 * server then replays that stream from where the session joined it).
 */
export class StreamPositions {
  private readonly seen = new Map<string, number>()

  /** Records a frame's position; a seq lower than the one recorded changes nothing. */
  record(stream: string, seq: number): void {
    const previous = this.seen.get(stream)
    if (previous !== undefined) {
      this.seen.delete(stream)
      this.seen.set(stream, Math.max(previous, seq))
      return
    }
    this.seen.set(stream, seq)
    if (this.seen.size > MAX_POSITIONS) {
      this.seen.delete(this.seen.keys().next().value as string)
    }
  }

  get size(): number {
    return this.seen.size
  }

  /** A plain object for `encodePositions`. */
  toJSON(): Positions {
    return Object.fromEntries(this.seen)
  }

  clear(): void {
    this.seen.clear()
  }
}
