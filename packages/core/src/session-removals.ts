/**
 * Gathers the session removals of closing connections into {@link SessionStore.removeMany}
 * calls, as the admission batching does for handshakes: the closes of one turn of the event loop
 * go in one call, and while {@link BATCHES_IN_FLIGHT} calls are out, new ones wait and leave
 * together when one comes back. A mass disconnect (a deploy, a network blip) then costs the store
 * a call per batch, not a statement and commit per connection.
 *
 * @module
 */
import { BATCHES_IN_FLIGHT } from './admission-batch.js'
import type { SessionStore } from './store-contracts.js'

/** The most ids in one `removeMany` call. */
export const REMOVE_MANY_LIMIT = 256

/** How one batch is sent (the store call with its guard), and where its work is tracked. */
export interface SessionRemovalsOptions {
  readonly send: (ids: readonly string[]) => Promise<unknown>
  /** Takes every call (and every wait for one), so that shutdown can wait for them all. */
  readonly track: (work: Promise<unknown>) => void
  readonly limit?: number
}

/** The batching in front of one session store's `removeMany`. */
export class SessionRemovals {
  readonly #send: (ids: readonly string[]) => Promise<unknown>
  readonly #track: (work: Promise<unknown>) => void
  readonly #limit: number
  #waiting: string[] = []
  #inFlight = 0
  #scheduled = false

  constructor(options: SessionRemovalsOptions) {
    const limit = options.limit ?? REMOVE_MANY_LIMIT
    if (!Number.isInteger(limit) || limit < 1) {
      throw new TypeError(`ws-warden: the removal limit must be a positive integer, got ${limit}`)
    }
    this.#send = options.send
    this.#track = options.track
    this.#limit = limit
  }

  /** The store's batching, or undefined if it has no `removeMany`. */
  static of(
    store: SessionStore,
    options: Omit<SessionRemovalsOptions, 'send'> & {
      readonly guard: (operation: () => Promise<number>) => Promise<number>
    },
  ): SessionRemovals | undefined {
    const { removeMany } = store
    if (removeMany === undefined) return undefined
    return new SessionRemovals({
      ...options,
      send: (ids) => options.guard(() => removeMany.call(store, ids)),
    })
  }

  /** Ids waiting for a call (not yet sent). */
  get waiting(): number {
    return this.#waiting.length
  }

  /** Queues the removal of one record; its call goes out within a turn, or when one returns. */
  remove(id: string): void {
    this.#waiting.push(id)
    if (this.#scheduled || this.#inFlight >= BATCHES_IN_FLIGHT) return
    this.#scheduled = true
    // Tracked from now, not from the call: a shutdown in this turn still waits for this batch.
    this.#track(
      new Promise<void>((resolve) =>
        setImmediate(() => {
          this.#flush()
          resolve()
        }),
      ),
    )
  }

  #flush(): void {
    this.#scheduled = false
    while (this.#waiting.length > 0 && this.#inFlight < BATCHES_IN_FLIGHT) {
      const ids = this.#waiting.splice(0, this.#limit)
      this.#inFlight++
      let sent: Promise<unknown>
      try {
        sent = this.#send(ids)
      } catch (error) {
        sent = Promise.reject(error)
      }
      // What gathered meanwhile leaves as this call ends, tracked before this one is let go.
      this.#track(
        sent.finally(() => {
          this.#inFlight--
          if (!this.#scheduled) this.#flush()
        }),
      )
    }
  }
}
