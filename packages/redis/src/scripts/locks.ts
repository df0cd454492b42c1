/**
 * The Lua of the lock store: the release that frees a lock only while it holds its holder's token.
 *
 * @module
 */
/**
 * Lock release: deletes the lock only if it still holds this holder's token (an expired holder
 * must not free its successor). KEYS: lock. ARGV: token.
 */
export const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`
