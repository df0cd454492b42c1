/**
 * The Lua scripts. Each runs atomically on the server in one round trip (EVALSHA through
 * ioredis `defineCommand`). Every key a script touches is passed in KEYS and shares one hash tag,
 * so a script works on Redis Cluster too. Times come from the server's `TIME`, never a node.
 */

/** Milliseconds since the epoch on the server's clock. */
const NOW = `local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)`

/**
 * Helpers of the expiry index (a sorted set of member -> expiry) that lets `sweep` count what
 * Redis expired by itself. Entries older than `retention` are trimmed on write, and the index
 * key expires `retention` after its last entry, so it stays bounded even if nobody sweeps.
 */
const EXPIRY_INDEX = `local function indexExpiry(index, member, at, now, retention)
  redis.call('ZADD', index, at, member)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now - retention)
  local keep = at - now + retention
  if redis.call('PTTL', index) < keep then redis.call('PEXPIRE', index, keep) end
end`

/**
 * Token consume. KEYS: token key, expiry index. ARGV: expiresAt (epoch ms), jti, retention.
 * `SET NX PXAT` makes the first caller win cluster-wide; a token already expired is `1`
 * without a write (it can never verify again). Returns 1 (first use) or 0 (replay).
 */
export const CONSUME_TOKEN = `${NOW}
${EXPIRY_INDEX}
local at = tonumber(ARGV[1])
if at <= now then return 1 end
if not redis.call('SET', KEYS[1], '1', 'NX', 'PXAT', ARGV[1]) then return 0 end
indexExpiry(KEYS[2], ARGV[2], at, now, tonumber(ARGV[3]))
return 1`

/**
 * Rate-limit hit, a fixed window opened by the key's first hit. KEYS: counter, expiry index.
 * ARGV: windowMs, member (the caller's key), retention. Every hit counts, refused ones too; the
 * expiry is set once per window (or repaired if lost), so refused hits never extend it.
 * Returns { count, ms left in the window }.
 */
export const HIT_WINDOW = `${EXPIRY_INDEX}
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ${NOW}
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
  indexExpiry(KEYS[2], ARGV[2], now + ttl, now, tonumber(ARGV[3]))
end
return { count, ttl }`

/**
 * Sweep of an expiry index (tokens, rate-limit windows). KEYS: index. ARGV: before.
 * Removes entries that expired before `before` and by now (a live record is never counted,
 * whatever `before` says); returns how many.
 */
export const SWEEP_EXPIRED = `${NOW}
if tonumber(ARGV[1]) <= now then
  return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
end
return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)`

/**
 * Dry run of {@link SWEEP_EXPIRED}: how many entries it would remove now, with the same bounds.
 * KEYS: index. ARGV: before.
 */
export const COUNT_EXPIRED = `${NOW}
if tonumber(ARGV[1]) <= now then
  return redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[1])
end
return redis.call('ZCOUNT', KEYS[1], '-inf', now)`

/**
 * Lock release: deletes the lock only if it still holds this holder's token (an expired holder
 * must not free its successor). KEYS: lock. ARGV: token.
 */
export const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`

/**
 * Session helpers. KEYS, in every session script: 1 records (hash id -> JSON), 2 seen (zset
 * id -> lastSeenAt), 3/4/5 by-user/by-ip/by-channel (zsets of `<len>:<value><id>`, read by lex
 * range), 6/7/8 users/ips/channels (hash value -> count). The length prefix makes the member of
 * one value never a prefix of another's. `mark` adds (by = 1) or removes (by = -1) an id under a
 * value of index k and keeps its count; `keep` refreshes the lifetime of every key.
 */
const SESSION = `local function tag(value) return #value .. ':' .. value end
local function mark(k, value, id, by)
  if by > 0 then redis.call('ZADD', KEYS[k], 0, tag(value) .. id)
  else redis.call('ZREM', KEYS[k], tag(value) .. id) end
  if redis.call('HINCRBY', KEYS[k + 3], value, by) <= 0 then redis.call('HDEL', KEYS[k + 3], value) end
end
local function index(id, r, by)
  mark(3, r.userId, id, by)
  mark(4, r.ip, id, by)
  for _, channel in ipairs(r.channels) do mark(5, channel, id, by) end
end
local function keep(ttl) for i = 1, 8 do redis.call('PEXPIRE', KEYS[i], ttl) end end
local function drop(id)
  redis.call('ZREM', KEYS[2], id)
  local raw = redis.call('HGET', KEYS[1], id)
  if not raw then return 0 end
  redis.call('HDEL', KEYS[1], id)
  index(id, cjson.decode(raw), -1)
  return 1
end
local function members(k, value)
  local p = tag(value)
  local ids = redis.call('ZRANGEBYLEX', KEYS[k], '[' .. p, '(' .. p .. '\\255')
  for i, m in ipairs(ids) do ids[i] = string.sub(m, #p + 1) end
  return ids
end`

/**
 * Session add. ARGV: id, record JSON (without lastSeenAt), lastSeenAt, perUser, perIp, total
 * ('' = no cap), ttl. Checks the caps (a record it replaces does not count against them), then
 * replaces and indexes the record. Returns 'ok', or the cap hit first: 'user', 'ip', 'total'.
 */
export const ADD_SESSION = `${SESSION}
local id, r = ARGV[1], cjson.decode(ARGV[2])
local raw = redis.call('HGET', KEYS[1], id)
local old = raw and cjson.decode(raw)
local function over(cap, n, replacing)
  if replacing then n = n - 1 end
  return cap ~= '' and n >= tonumber(cap)
end
local function count(h, value) return tonumber(redis.call('HGET', KEYS[h], value) or '0') end
if over(ARGV[4], count(6, r.userId), old and old.userId == r.userId) then return 'user' end
if over(ARGV[5], count(7, r.ip), old and old.ip == r.ip) then return 'ip' end
if over(ARGV[6], redis.call('ZCARD', KEYS[2]), old) then return 'total' end
if old then index(id, old, -1) end
redis.call('HSET', KEYS[1], id, ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], id)
index(id, r, 1)
keep(ARGV[7])
return 'ok'`

/** Session remove. ARGV: id. Returns 1 if the record existed. */
export const REMOVE_SESSION = `${SESSION}
return drop(ARGV[1])`

/**
 * Session read. ARGV: 'id' | 'user' | 'channel', value. Returns a flat list of
 * id, record JSON, lastSeenAt for every record found.
 */
export const READ_SESSIONS = `${SESSION}
local ids = ARGV[1] == 'id' and { ARGV[2] } or members(ARGV[1] == 'user' and 3 or 5, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    table.insert(out, id)
    table.insert(out, raw)
    table.insert(out, redis.call('ZSCORE', KEYS[2], id) or '0')
  end
end
return out`

/**
 * Session count. ARGV: pairs of index (3 user, 4 ip, 5 channel) and value, ANDed. Walks the
 * smallest index's members and checks the others; no filter is the total.
 */
export const COUNT_SESSIONS = `${SESSION}
if #ARGV == 0 then return redis.call('ZCARD', KEYS[2]) end
local best, fewest
for i = 1, #ARGV, 2 do
  local n = tonumber(redis.call('HGET', KEYS[ARGV[i] + 3], ARGV[i + 1]) or '0')
  if not fewest or n < fewest then best, fewest = i, n end
end
if #ARGV == 2 or fewest == 0 then return fewest end
local n = 0
for _, id in ipairs(members(tonumber(ARGV[best]), ARGV[best + 1])) do
  local all = true
  for i = 1, #ARGV, 2 do
    if i ~= best and not redis.call('ZSCORE', KEYS[tonumber(ARGV[i])], tag(ARGV[i + 1]) .. id) then
      all = false
    end
  end
  if all then n = n + 1 end
end
return n`

/** Session stats: { connections, distinct users, flat channel -> count list }. */
export const SESSION_STATS = `return { redis.call('ZCARD', KEYS[2]), redis.call('HLEN', KEYS[6]),
  redis.call('HGETALL', KEYS[8]) }`

/**
 * Session join (by = 1) or leave (by = -1). ARGV: id, channel, by, ttl. A no-op for an unknown
 * id, a channel already joined, or one not joined.
 */
export const MOVE_SESSION = `${SESSION}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local r, by, at = cjson.decode(raw), tonumber(ARGV[3]), nil
for i, channel in ipairs(r.channels) do if channel == ARGV[2] then at = i end end
if (by > 0) == (at ~= nil) then return 0 end
if by > 0 then table.insert(r.channels, ARGV[2]) else table.remove(r.channels, at) end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(r))
mark(5, ARGV[2], ARGV[1], by)
if by > 0 then keep(ARGV[4]) end
return 1`

/** Session touch. ARGV: at, ttl, ids... Sets lastSeenAt of the ids that exist (ZADD XX). */
export const TOUCH_SESSIONS = `${SESSION}
for i = 3, #ARGV do redis.call('ZADD', KEYS[2], 'XX', ARGV[1], ARGV[i]) end
keep(ARGV[2])
return 0`

/** Session sweep. ARGV: staleBefore, batch. Returns { records removed, ids scanned }. */
export const SWEEP_SESSIONS = `${SESSION}
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
local n = 0
for _, id in ipairs(ids) do n = n + drop(id) end
return { n, #ids }`

/** Dry run of the session sweep. ARGV: staleBefore. Returns how many records it would remove. */
export const COUNT_STALE_SESSIONS = `return redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. ARGV[1])`

/** The session scripts, by the name `RedisSessionStore` calls them. */
export const SESSION_SCRIPTS = {
  add: ADD_SESSION,
  remove: REMOVE_SESSION,
  read: READ_SESSIONS,
  count: COUNT_SESSIONS,
  stats: SESSION_STATS,
  move: MOVE_SESSION,
  touch: TOUCH_SESSIONS,
  sweep: SWEEP_SESSIONS,
  countStale: COUNT_STALE_SESSIONS,
}
