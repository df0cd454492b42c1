/**
 * The Lua of a sharded session registry's caps slot (the directory of ids, the counts per IP,
 * lastSeenAt): the caps helpers, the reserve (also run by the caps side of an admission), and
 * every caps script `RedisSessionStore` calls, by name in `CAPS_SCRIPTS`.
 *
 * @module
 */
import { LIFETIME } from './shared.js'

/**
 * Caps helpers of a sharded session registry (see `RedisSessionStore` in `../sessions.ts`), whose
 * records live in user buckets while what the caps per IP and in total count lives in one slot.
 * KEYS, in every caps script: 1 ids (hash id -> `<bucket>:<ip>`, the directory: where each record
 * lives), 2 ips (hash ip -> count), 3 seen (zset id -> lastSeenAt, so entries whose record never
 * came are swept). The total is `HLEN ids`. `count` moves an ip's count and returns it; `release`
 * drops an id's entry and returns it (false if there was none); `keep` refreshes the lifetime of
 * every key (see `lifetime`).
 */
export const CAPS = `local function entryIp(entry) return string.match(entry, '^%d+:(.*)$') end
local function count(ip, by)
  local n = redis.call('HINCRBY', KEYS[2], ip, by)
  if n <= 0 then redis.call('HDEL', KEYS[2], ip) end
  return n
end
${LIFETIME}
local function keep(ttl)
  local ms = lifetime(ttl)
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ms) end
end
local function release(id)
  redis.call('ZREM', KEYS[3], id)
  local entry = redis.call('HGET', KEYS[1], id)
  if not entry then return false end
  redis.call('HDEL', KEYS[1], id)
  count(entryIp(entry), -1)
  return entry
end`

/**
 * Caps reserve as a function of the caps helpers (also run by the cluster admission script):
 * id, bucket, ip, lastSeenAt, perIp, total ('' = no cap), ttl. Checks the IP and total caps (an
 * entry of the same id does not count twice), then writes the id's entry. Returns { 'ok',
 * previous entry or '', its lastSeenAt or '' } (what a rollback restores), or { 'ip' } /
 * { 'total' }.
 *
 * A new id (the admission's case) is written first (HSETNX, which tells a new id from a stored
 * one), then counts its IP up and checks the count it reaches, giving it all back if a cap
 * refuses: one HSETNX and one HINCRBY where a read and a write were each, and no lastSeenAt to
 * read for a rollback. The keys' lifetimes are left alone if `seen` still has at least `ttl`
 * left, as the session add does with its records: a seen entry has its id's entry, which counts
 * its IP, so the keys this reserve writes existed at that refresh.
 */
export const RESERVE = `local function reserve(id, bucket, ip, seenAt, perIp, total, ttl)
  local entry = bucket .. ':' .. ip
  local old = redis.call('HSETNX', KEYS[1], id, entry) == 0 and redis.call('HGET', KEYS[1], id)
  local oldIp = old and entryIp(old)
  local function refuse(cap)
    if oldIp ~= ip then count(ip, -1) end
    if not old then redis.call('HDEL', KEYS[1], id) end
    return { cap }
  end
  if oldIp ~= ip and count(ip, 1) > (perIp == '' and math.huge or perIp + 0) then
    return refuse('ip')
  end
  if not old and total ~= '' and redis.call('HLEN', KEYS[1]) > total + 0 then
    return refuse('total')
  end
  local oldSeen = old and redis.call('ZSCORE', KEYS[3], id)
  if old then
    if oldIp ~= ip then count(oldIp, -1) end
    redis.call('HSET', KEYS[1], id, entry)
  end
  redis.call('ZADD', KEYS[3], seenAt, id)
  if redis.call('PTTL', KEYS[3]) < ttl + 0 then keep(ttl) end
  return { 'ok', old or '', oldSeen or '' }
end`

/** Caps reserve: the first phase of a sharded add. ARGV: the arguments of `reserve`, in order. */
export const CAPS_RESERVE = `${CAPS}
${RESERVE}
return reserve(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])`

/**
 * Caps rollback of a reserve whose insert was refused (or failed). ARGV: id, the entry the
 * reserve wrote, the previous entry ('' = none), its lastSeenAt, ttl. A no-op unless the id still
 * holds the reserved entry. Returns 1 if it rolled back.
 */
export const CAPS_RESTORE = `${CAPS}
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
release(ARGV[1])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1]) end
  count(entryIp(ARGV[3]), 1)
  keep(ARGV[5])
end
return 1`

/** Caps release. ARGV: ids. Returns each id's entry (nil where there was none). */
export const CAPS_RELEASE = `${CAPS}
local out = {}
for i = 1, #ARGV do out[i] = release(ARGV[i]) end
return out`

/** Caps touch. ARGV: at, ttl, ids... Sets lastSeenAt (ZADD XX); returns each id's entry or nil. */
export const CAPS_TOUCH = `${CAPS}
local out = {}
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[3], 'XX', ARGV[1], ARGV[i])
  out[i - 2] = redis.call('HGET', KEYS[1], ARGV[i])
end
keep(ARGV[2])
return out`

/**
 * Caps sweep: releases the entries last seen before `staleBefore` (whose records the bucket
 * sweeps did not remove: a reserve whose insert never came). ARGV: staleBefore, batch. Returns a
 * flat list of id, entry ('' if only its seen entry was left).
 */
export const CAPS_STALE = `${CAPS}
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  table.insert(out, id)
  table.insert(out, release(id) or '')
end
return out`

/** The caps scripts, by the name `RedisSessionStore` calls them. */
export const CAPS_SCRIPTS = {
  reserve: CAPS_RESERVE,
  restore: CAPS_RESTORE,
  release: CAPS_RELEASE,
  touch: CAPS_TOUCH,
  stale: CAPS_STALE,
}
