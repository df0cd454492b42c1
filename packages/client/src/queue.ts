/**
 * The send queue: messages sent while the connection is not open, bounded, with the policy for
 * when it is full, flushed in order once it opens.
 *
 * @module
 */
/**
 * What the client's send queue does with a message when it is full:
 *
 * - `'drop-oldest'`: the oldest queued message is dropped and the new one queued (the latest
 *   intent wins: good for state updates);
 * - `'drop-newest'`: the new message is dropped (what was queued first goes first);
 * - `'throw'`: `send` throws a `QueueFullError` and nothing is dropped.
 *
 * A dropped message is reported through the client's `error` event as a `QueueFullError`.
 */
export type OverflowPolicy = 'drop-oldest' | 'drop-newest' | 'throw'

/** Messages sent while disconnected wait here, up to a bound. */
export interface QueueOptions {
  /**
   * How many messages may wait while disconnected. 0 turns queueing off: `send` while
   * disconnected then drops the message (or throws, under `'throw'`).
   * @default 100
   */
  readonly max?: number
  /**
   * What happens when a message arrives and the queue is full.
   * @default 'drop-oldest'
   */
  readonly overflow?: OverflowPolicy
}

/** The answer of {@link SendQueue.push}: what was dropped to make room, if anything. */
export type PushResult =
  | { readonly queued: true; readonly dropped?: string }
  | { readonly queued: false; readonly dropped: string }

/** A bounded FIFO of serialized messages. */
export class SendQueue {
  private items: string[] = []

  constructor(
    readonly max: number,
    readonly overflow: OverflowPolicy,
  ) {}

  get size(): number {
    return this.items.length
  }

  /** Queues `message`, applying the overflow policy; `'throw'` is the caller's to apply. */
  push(message: string): PushResult {
    if (this.items.length < this.max) {
      this.items.push(message)
      return { queued: true }
    }
    if (this.overflow === 'drop-oldest' && this.max > 0) {
      const dropped = this.items.shift() as string
      this.items.push(message)
      return { queued: true, dropped }
    }
    return { queued: false, dropped: message }
  }

  /** Whether one more message fits without dropping anything. */
  get full(): boolean {
    return this.items.length >= this.max
  }

  /** Removes and returns everything, oldest first. */
  drain(): string[] {
    const items = this.items
    this.items = []
    return items
  }

  clear(): void {
    this.items = []
  }
}
