/**
 * `@ws-warden/core/stores`: what a store implementation (Redis, SQL, your own) and a store test
 * need: every store contract, the in-process memory stores a warden uses by default, and the
 * composed admission a store without a one-trip `admit` gets, and the batching in front of
 * `admitMany`.
 *
 * @packageDocumentation
 */
export * from './store-contracts.js'
export * from './memory/index.js'
export { ComposedAdmission } from './composed-admission.js'
export type { StoreCall } from './composed-admission.js'
export { AdmissionBatcher, DEFAULT_ADMIT_MANY_LIMIT } from './admission-batch.js'
export type { SendBatch } from './admission-batch.js'
export { REMOVE_MANY_LIMIT } from './session-removals.js'
// The option validators core's own options readers use, so a store's options read the same way.
export {
  clockOption,
  countOption,
  isNonEmptyString,
  isPositiveInteger,
  nonEmpty,
  onErrorOption,
  positiveInteger,
  systemClock,
} from './validate.js'
