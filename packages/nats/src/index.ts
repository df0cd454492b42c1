/**
 * A NATS broker for ws-warden, so that many instances act as one with any store set.
 *
 * ```ts
 * import { createWarden } from '@ws-warden/core'
 * import { NatsBroker } from '@ws-warden/nats'
 *
 * const broker = new NatsBroker({ servers: 'nats://127.0.0.1:4222', prefix: 'chat' })
 * await broker.ready()
 * const warden = createWarden({ tokens: { secret }, stores: { ...stores, broker } })
 * // on shutdown: await warden.close(); await broker.close()
 * ```
 *
 * @packageDocumentation
 */
export { NatsBroker } from './broker.js'
export type { NatsBrokerOptions } from './options.js'
export { NatsPayloadTooLargeError } from './errors.js'
export { checkPrefix, decodeTopic, encodeTopic } from './subjects.js'
