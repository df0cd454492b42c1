/**
 * The Lua fragments shared by the script modules of `scripts/`: the server's clock and the
 * expiry index that lets a sweep count what Redis expired by itself.
 *
 * Every script runs atomically on the server in one round trip (EVALSHA through ioredis
 * `defineCommand`). Every key a script touches is passed in KEYS and shares one hash tag, so a
 * script works on Redis Cluster too. Times come from the server's `TIME`, never a node. A script
 * is its fragments joined by newlines, then its own body: changing a fragment changes the text,
 * so the SHA1, of every script made with it.
 *
 * The admission path counts every redis.call (each costs a few thousand instructions on top of
 * its command) and every number conversion: `x + 0` reads a numeric argument at half the cost of
 * `tonumber` (which parses twice), and arguments passed on keep their text where there is one
 * (Lua prints a number slowly).
 *
 * @module
 */
/** `clock()`: {@link NOW} as a function, for scripts that need the clock only sometimes. */
export const CLOCK = `local function clock()
  local t = redis.call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000)
end`

/** Milliseconds since the epoch on the server's clock (`now`), and the `TIME` it read (`t`). */
export const NOW = `local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)`

/**
 * `lifetime(ttl)`: how long a refresh of the session registry's keys (a bucket's, the caps
 * slot's) makes them live: `ttl` and 1/64 more, so that the adds of the next `ttl / 64` find at
 * least `ttl` left and leave every key's lifetime alone (one PTTL where there was a PEXPIRE per
 * key): the keys vanish at least `ttl` and at most `ttl + ttl / 64` after the last write.
 */
export const LIFETIME = `local function lifetime(ttl) return ttl + math.floor(ttl / 64) end`

/**
 * Helpers of the expiry index (a sorted set of member -> expiry) that lets `sweep` count what
 * Redis expired by itself. It stays bounded even if nobody sweeps: the index key expires at
 * least `retention` (at most twice that) after its last entry, and entries older than
 * `retention` are trimmed by the writes that extend that lifetime and by those of one
 * millisecond in 16 (a write of each ms would only find nothing to trim). The lifetime is
 * extended a `retention` ahead of need, so that most writes find it long enough: one ZADD and
 * one PTTL per write where there were four calls. `score`: `at` as the caller's text, if it has
 * it (Lua prints a number slowly). `other`: a second member with the same expiry, indexed in the
 * same write (two windows an admission opens).
 */
export const EXPIRY_INDEX = `local function indexExpiry(index, member, at, now, retention, score, other)
  if other then
    local s = score or string.format('%.0f', at)
    redis.call('ZADD', index, s, member, s, other)
  else
    redis.call('ZADD', index, score or at, member)
  end
  local keep = at - now + retention
  local extend = redis.call('PTTL', index) < keep
  if extend or now % 16 == 0 then
    redis.call('ZREMRANGEBYSCORE', index, '-inf', now - retention)
  end
  if extend then redis.call('PEXPIRE', index, keep + retention) end
end`
