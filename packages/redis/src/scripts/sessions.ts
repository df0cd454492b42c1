/**
 * The Lua of the session registry, one bucket's eight keys: the session helpers (indexes and
 * counts), the add under the caps (also run by the admission scripts), and every script
 * `RedisSessionStore` calls on a bucket, by name in `SESSION_SCRIPTS`.
 *
 * @module
 */
import { LIFETIME } from './shared.js'

/**
 * Session helpers. KEYS, in every session script: 1 records (hash id -> record), 2 seen (zset
 * id -> lastSeenAt), 3/4/5 by-user/by-ip/by-channel (zsets of `<len>:<value><id>`, read by lex
 * range), 6/7/8 users/ips/channels (hash value -> count). The length prefix makes the member of
 * one value never a prefix of another's. A record is a JSON array of strings: userId, ip,
 * instanceId, connectedAt, then its channels (see `addArgs` in `session-layout.ts`): cjson decodes
 * that in about half the time of an object with a number. `list` adds (by = 1) or removes
 * (by = -1) an id under a value of index k, `tally` moves the value's count (dropping it at 0),
 * `mark` does both; `keep` refreshes the lifetime of every key (see `lifetime`).
 */
export const SESSION = `local function tag(value) return string.format('%d:', #value) .. value end
local function list(k, value, id, by)
  local member = string.format('%d:', #value) .. value .. id
  if by > 0 then redis.call('ZADD', KEYS[k], '0', member)
  else redis.call('ZREM', KEYS[k], member) end
end
local function tally(h, value, by)
  local n = redis.call('HINCRBY', KEYS[h], value, by > 0 and '1' or '-1')
  if n <= 0 then redis.call('HDEL', KEYS[h], value) end
  return n
end
local function mark(k, value, id, by)
  list(k, value, id, by)
  tally(k + 3, value, by)
end
local function index(id, r, by)
  mark(3, r[1], id, by)
  mark(4, r[2], id, by)
  for i = 5, #r do mark(5, r[i], id, by) end
end
${LIFETIME}
local function keep(ttl)
  local ms = lifetime(ttl)
  for i = 1, 8 do redis.call('PEXPIRE', KEYS[i], ms) end
end`

/**
 * Session removal as a function of the session helpers: the record, its lastSeenAt, its index
 * entries.
 */
export const DROP = `local function drop(id)
  redis.call('ZREM', KEYS[2], id)
  local raw = redis.call('HGET', KEYS[1], id)
  if not raw then return 0 end
  redis.call('HDEL', KEYS[1], id)
  index(id, cjson.decode(raw), -1)
  return 1
end`

/** The ids under a value of index k (3 user, 5 channel), as a function of the session helpers. */
const MEMBERS = `local function members(k, value)
  local p = tag(value)
  local ids = redis.call('ZRANGEBYLEX', KEYS[k], '[' .. p, '(' .. p .. '\\255')
  for i, m in ipairs(ids) do ids[i] = string.sub(m, #p + 1) end
  return ids
end`

/**
 * Session add as a function of the session helpers (also run by the admission script): id,
 * record (the helpers' encoding), lastSeenAt, perUser, perIp, total ('' = no cap), ttl. Checks
 * the caps (a record it replaces does not count against them), then replaces and indexes the
 * record. Returns 'ok', or the cap hit first: 'user', 'ip', 'total'.
 *
 * A new id (the admission's case) is written first (HSETNX, which tells a new id from a stored
 * one), then counts its user and IP up and checks the counts they reach, giving it all back if a
 * cap refuses: one HSETNX and one HINCRBY each where reads and writes were. Its
 * keys' lifetimes are left alone if the records still have at least `ttl` left: every key was
 * refreshed with them, by a script that refreshed every key less than `ttl / 64` ago (see
 * `lifetime`), so the keys outlive `ttl` from now as they would with a refresh. The keys this add
 * writes all existed then (they hold something while the records do), and a record with
 * channels, like a join, refreshes them all anyway. (One deleted or evicted behind the
 * registry's back while records remain comes back without a lifetime until the next refresh: a
 * touch, or an add once less than `ttl` is left.)
 */
export const ADD = `local function addSession(id, raw, seenAt, perUser, perIp, total, ttl)
  local r = cjson.decode(raw)
  local user, ip = r[1], r[2]
  local stored = redis.call('HSETNX', KEYS[1], id, raw) == 0 and redis.call('HGET', KEYS[1], id)
  local function over(cap, n) return cap ~= '' and n > cap + 0 end
  local function refuse(cap)
    redis.call('HDEL', KEYS[1], id)
    return cap
  end
  if stored then
    local old = cjson.decode(stored)
    local function count(h, value) return tonumber(redis.call('HGET', KEYS[h], value) or '0') end
    local function replacing(same) return same and 0 or 1 end
    if over(perUser, count(6, user) + replacing(old[1] == user)) then return 'user' end
    if over(perIp, count(7, ip) + replacing(old[2] == ip)) then return 'ip' end
    if over(total, redis.call('ZCARD', KEYS[2])) then return 'total' end
    index(id, old, -1)
  else
    if over(perUser, tally(6, user, 1)) then
      tally(6, user, -1)
      return refuse('user')
    end
    if over(perIp, tally(7, ip, 1)) then
      tally(6, user, -1)
      tally(7, ip, -1)
      return refuse('ip')
    end
    if total ~= '' and redis.call('ZCARD', KEYS[2]) >= total + 0 then
      tally(6, user, -1)
      tally(7, ip, -1)
      return refuse('total')
    end
  end
  if stored then redis.call('HSET', KEYS[1], id, raw) end
  redis.call('ZADD', KEYS[2], seenAt, id)
  if stored then index(id, r, 1)
  else
    list(3, user, id, 1)
    list(4, ip, id, 1)
    for i = 5, #r do mark(5, r[i], id, 1) end
  end
  if stored or #r > 4 or redis.call('PTTL', KEYS[1]) < ttl + 0 then keep(ttl) end
  return 'ok'
end`

/** Session add. ARGV: the arguments of `addSession`, in order. */
export const ADD_SESSION = `${SESSION}
${ADD}
return addSession(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])`

/** Session remove. ARGV: id. Returns 1 if the record existed. */
export const REMOVE_SESSION = `${SESSION}
${DROP}
return drop(ARGV[1])`

/**
 * Session read. ARGV: 'id' | 'user' | 'channel', value. Returns a flat list of
 * id, record, lastSeenAt for every record found.
 */
export const READ_SESSIONS = `${SESSION}
${MEMBERS}
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
${MEMBERS}
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
for i = 5, #r do if r[i] == ARGV[2] then at = i end end
if (by > 0) == (at ~= nil) then return 0 end
if by > 0 then table.insert(r, ARGV[2]) else table.remove(r, at) end
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
${DROP}
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
local n = 0
for _, id in ipairs(ids) do n = n + drop(id) end
return { n, #ids }`

/** Dry run of the session sweep. ARGV: staleBefore. Returns how many records it would remove. */
export const COUNT_STALE_SESSIONS = `return redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. ARGV[1])`

/** Removes many sessions (of one bucket). ARGV: ids. Returns how many records existed. */
export const REMOVE_SESSIONS = `${SESSION}
${DROP}
local n = 0
for i = 1, #ARGV do n = n + drop(ARGV[i]) end
return n`

/**
 * Session sweep that names what it removed (a bucket of a sharded registry, whose caps entries
 * must be released after). ARGV: staleBefore, batch. Returns { ids scanned, removed ids... }.
 */
export const SWEEP_SESSION_IDS = `${SESSION}
${DROP}
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
local out = { #ids }
for _, id in ipairs(ids) do
  if drop(id) == 1 then table.insert(out, id) end
end
return out`

/** The session scripts, by the name `RedisSessionStore` calls them. */
export const SESSION_SCRIPTS = {
  add: ADD_SESSION,
  remove: REMOVE_SESSION,
  removeMany: REMOVE_SESSIONS,
  sweepIds: SWEEP_SESSION_IDS,
  read: READ_SESSIONS,
  count: COUNT_SESSIONS,
  stats: SESSION_STATS,
  move: MOVE_SESSION,
  touch: TOUCH_SESSIONS,
  sweep: SWEEP_SESSIONS,
  countStale: COUNT_STALE_SESSIONS,
}
