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
/** Milliseconds since the epoch on the server's clock. */
export const NOW = `local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)`

/**
 * Helpers of the expiry index (a sorted set of member -> expiry) that lets `sweep` count what
 * Redis expired by itself. It stays bounded even if nobody sweeps: the index key expires at
 * least `retention` (at most twice that) after its last entry, and entries older than
 * `retention` are trimmed by the writes that extend that lifetime and by those of one
 * millisecond in 16 (a write of each ms would only find nothing to trim). The lifetime is
 * extended a `retention` ahead of need, so that most writes find it long enough: one ZADD and
 * one PTTL per entry where there were four calls. `score`: `at` as the caller's text, if it has
 * it (Lua prints a number slowly).
 */
export const EXPIRY_INDEX = `local function indexExpiry(index, member, at, now, retention, score)
  redis.call('ZADD', index, score or at, member)
  local keep = at - now + retention
  local extend = redis.call('PTTL', index) < keep
  if extend or now % 16 == 0 then
    redis.call('ZREMRANGEBYSCORE', index, '-inf', now - retention)
  end
  if extend then redis.call('PEXPIRE', index, keep + retention) end
end`
