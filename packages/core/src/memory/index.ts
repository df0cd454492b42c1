/**
 * The memory stores: every store contract implemented in process, the defaults of a warden.
 *
 * @module
 */
export { MemoryAdmissionStore } from './admission.js'
export { MemoryBroker, type MemoryBrokerOptions } from './broker.js'
export { MemoryRateLimitStore, type MemoryRateLimitStoreOptions } from './rate-limits.js'
export { MemorySessionStore, type MemorySessionStoreOptions } from './sessions.js'
export { MemoryTokenStore, TokenStoreFullError, type MemoryTokenStoreOptions } from './tokens.js'
export { MemoryLockStore, type MemoryLockStoreOptions } from './locks.js'
export { MemoryHistoryStore, type MemoryHistoryStoreOptions } from './history.js'
export { MemoryResumeStore, type MemoryResumeStoreOptions } from './resumes.js'
