/**
 * Gathers admissions into {@link AdmissionStore.admitMany} calls: the handshakes of one turn of
 * the event loop go in one call, and while {@link BATCHES_IN_FLIGHT} calls are out, new ones wait
 * and leave together when one comes back. A lone handshake on an idle store waits one turn
 * (`setImmediate`), no timer.
 *
 * @module
 */
import type { AdmissionStore, AdmitRequest, AdmitResult } from './store-contracts.js'
import { storeFailure } from './store-guard.js'

/** Calls out at once: one running while the next one's requests gather behind it. */
export const BATCHES_IN_FLIGHT = 2
/** {@link AdmissionStore.admitManyLimit}'s default. */
export const DEFAULT_ADMIT_MANY_LIMIT = 64

interface Waiting {
  readonly request: AdmitRequest
  readonly resolve: (result: AdmitResult) => void
  readonly reject: (error: unknown) => void
}

/** How one batch is sent: the store call, with whatever timeout and reporting wraps it. */
export type SendBatch = (requests: readonly AdmitRequest[]) => Promise<readonly AdmitResult[]>

/** The batching in front of one store's `admitMany`. */
export class AdmissionBatcher {
  readonly #send: SendBatch
  readonly #limit: number
  #waiting: Waiting[] = []
  #inFlight = 0
  #scheduled = false

  /** `limit`: the most requests in one call (a positive integer). */
  constructor(send: SendBatch, limit: number = DEFAULT_ADMIT_MANY_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new TypeError(`ws-warden: admitManyLimit must be a positive integer, got ${limit}`)
    }
    this.#send = send
    this.#limit = limit
  }

  /** The store's batching, or undefined if it has no `admitMany`. */
  static of(store: AdmissionStore, send: SendBatch): AdmissionBatcher | undefined {
    return store.admitMany === undefined
      ? undefined
      : new AdmissionBatcher(send, store.admitManyLimit ?? DEFAULT_ADMIT_MANY_LIMIT)
  }

  /** Admissions waiting for a call (not yet sent). */
  get waiting(): number {
    return this.#waiting.length
  }

  /** One admission; it answers when the call it went out in does. */
  admit(request: AdmitRequest): Promise<AdmitResult> {
    return new Promise<AdmitResult>((resolve, reject) => {
      this.#waiting.push({ request, resolve, reject })
      if (!this.#scheduled && this.#inFlight < BATCHES_IN_FLIGHT) {
        this.#scheduled = true
        setImmediate(this.#flush)
      }
    })
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    while (this.#waiting.length > 0 && this.#inFlight < BATCHES_IN_FLIGHT) {
      const batch = this.#waiting.splice(0, this.#limit)
      this.#inFlight++
      this.#call(batch)
    }
  }

  #call(batch: readonly Waiting[]): void {
    let sent: Promise<readonly AdmitResult[]>
    try {
      sent = this.#send(batch.map((waiting) => waiting.request))
    } catch (error) {
      sent = Promise.reject(error)
    }
    sent
      .then((results) => {
        if (!Array.isArray(results) || results.length !== batch.length) {
          throw new TypeError(
            `admitMany answered ${Array.isArray(results) ? results.length : typeof results} results for ${batch.length} requests`,
          )
        }
        batch.forEach((waiting, i) => waiting.resolve(results[i] as AdmitResult))
      })
      .catch((error: unknown) => {
        const failure = storeFailure('admission', error)
        for (const waiting of batch) waiting.reject(failure)
      })
      .finally(() => {
        this.#inFlight--
        // What gathered meanwhile leaves now: it has waited for this call already.
        if (!this.#scheduled) this.#flush()
      })
  }
}
