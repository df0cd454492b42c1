/**
 * The NATS broker's errors: its own `NatsPayloadTooLargeError`, a payload NATS would refuse;
 * the core's `StoreUnavailableError` with `store: 'broker'` for unavailability (not connected, no
 * answer in time, which `bounded` turns a slow wait into); and the error of a closed broker.
 *
 * @module
 */
import { StoreUnavailableError } from '@ws-warden/core'

/**
 * A payload larger than the server's `max_payload` (1 MiB by default). Raised before anything is
 * sent: no instance receives any part of it.
 */
export class NatsPayloadTooLargeError extends Error {
  /** Stable string code. */
  readonly code = 'nats_payload_too_large'
  /** The payload's size in bytes (UTF-8). */
  readonly bytes: number
  /** The server's limit in bytes. */
  readonly maxPayload: number

  constructor(topic: string, bytes: number, maxPayload: number) {
    super(
      `ws-warden: a ${bytes}-byte payload on topic ${JSON.stringify(topic.slice(0, 64))} exceeds the NATS server's max_payload of ${maxPayload} bytes; nothing was published`,
    )
    this.name = 'NatsPayloadTooLargeError'
    this.bytes = bytes
    this.maxPayload = maxPayload
  }
}

/** The broker's `StoreUnavailableError` saying `message`. */
export function unavailable(message: string): StoreUnavailableError {
  return new StoreUnavailableError('broker', `ws-warden: ${message}`)
}

/** What a closed broker's calls reject with. */
export function closedError(): Error {
  return new Error('ws-warden: the NatsBroker is closed')
}

/** Rejects with a `StoreUnavailableError` if `promise` has not settled within `ms`. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable(`${what} within ${ms} ms`)), ms)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
