/**
 * `@ws-warden/core/stores`: what a store implementation (Redis, SQL, your own) and a store test
 * need: every store contract, and the in-process memory stores a warden uses by default.
 *
 * @module
 */
export * from './store-contracts.js'
export * from './memory/index.js'
