export { MemoryBroker, type MemoryBrokerOptions } from './broker.js'
export { MemoryRateLimitStore, type MemoryRateLimitStoreOptions } from './rate-limits.js'
export { MemorySessionStore, type MemorySessionStoreOptions } from './sessions.js'
export { MemoryTokenStore, TokenStoreFullError, type MemoryTokenStoreOptions } from './tokens.js'
