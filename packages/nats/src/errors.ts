/**
 * The NATS broker's own error: a payload NATS would refuse. Unavailability (not connected, no
 * answer in time) is the core's `StoreUnavailableError` with `store: 'broker'`.
 */

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
