/**
 * The Lua scripts. Each runs atomically on the server in one round trip (EVALSHA through
 * ioredis `defineCommand`). Every key a script touches is passed in KEYS and shares one hash tag,
 * so a script works on Redis Cluster too. Times come from the server's `TIME`, never a node.
 *
 * The admission path counts every redis.call (each costs a few thousand instructions on top of
 * its command) and every number conversion: `x + 0` reads a numeric argument at half the cost of
 * `tonumber` (which parses twice), and arguments passed on keep their text where there is one
 * (Lua prints a number slowly).
 */

/** Milliseconds since the epoch on the server's clock. */
const NOW = `local t = redis.call('TIME')
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
const EXPIRY_INDEX = `local function indexExpiry(index, member, at, now, retention, score)
  redis.call('ZADD', index, score or at, member)
  local keep = at - now + retention
  local extend = redis.call('PTTL', index) < keep
  if extend or now % 16 == 0 then
    redis.call('ZREMRANGEBYSCORE', index, '-inf', now - retention)
  end
  if extend then redis.call('PEXPIRE', index, keep + retention) end
end`

/**
 * Token consume as a function (also run by the admission script). `expiry`: the expiry index;
 * `expiresAt` (epoch ms, as given), `jti`, `retention`. `SET NX PXAT` makes the first caller win
 * cluster-wide; a token already expired is `1` without a write (it can never verify again).
 * Returns 1 (first use) or 0 (replay).
 */
const CONSUME = `local function consumeToken(key, expiry, expiresAt, jti, retention, now)
  local at = expiresAt + 0
  if at <= now then return 1 end
  if not redis.call('SET', key, '1', 'NX', 'PXAT', expiresAt) then return 0 end
  indexExpiry(expiry, jti, at, now, retention + 0, expiresAt)
  return 1
end`

/** Token consume. KEYS: token key, expiry index. ARGV: expiresAt (epoch ms), jti, retention. */
export const CONSUME_TOKEN = `${NOW}
${EXPIRY_INDEX}
${CONSUME}
return consumeToken(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], now)`

/**
 * Rate-limit hit as a function (also run by the admission scripts), a fixed window opened by the
 * key's first hit. `expiry`: the expiry index; `member`: the caller's key; `now`: the server's
 * clock if the caller read it already (else `TIME`, only when a window opens). Every hit counts,
 * refused ones too; the expiry is set once per window (or repaired if lost), so refused hits
 * never extend it. A count of 1 is a key INCR just made, so without an expiry: no PTTL then.
 * Returns count, ms left in the window.
 */
const HIT = `local function hitWindow(counter, expiry, windowMs, member, retention, now)
  local count = redis.call('INCR', counter)
  local ttl = count > 1 and redis.call('PTTL', counter) or -1
  if ttl < 0 then
    if not now then
      local t = redis.call('TIME')
      now = t[1] * 1000 + math.floor(t[2] / 1000)
    end
    ttl = windowMs + 0
    redis.call('PEXPIRE', counter, windowMs)
    indexExpiry(expiry, member, now + ttl, now, retention + 0)
  end
  return count, ttl
end`

/**
 * Rate-limit hit. KEYS: counter, expiry index. ARGV: windowMs, member, retention.
 * Returns { count, ms left in the window }.
 */
export const HIT_WINDOW = `${EXPIRY_INDEX}
${HIT}
return { hitWindow(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]) }`

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
 * Session helpers. KEYS, in every session script: 1 records (hash id -> record), 2 seen (zset
 * id -> lastSeenAt), 3/4/5 by-user/by-ip/by-channel (zsets of `<len>:<value><id>`, read by lex
 * range), 6/7/8 users/ips/channels (hash value -> count). The length prefix makes the member of
 * one value never a prefix of another's. A record is a JSON array of strings: userId, ip,
 * instanceId, connectedAt, then its channels (see `addArgs` in `sessions.ts`): cjson decodes
 * that in about half the time of an object with a number. `list` adds (by = 1) or removes
 * (by = -1) an id under a value of index k, `tally` moves the value's count (dropping it at 0),
 * `mark` does both; `keep` refreshes the lifetime of every key.
 */
const SESSION = `local function tag(value) return string.format('%d:', #value) .. value end
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
local function keep(ttl) for i = 1, 8 do redis.call('PEXPIRE', KEYS[i], ttl) end end`

/** Session removal as a function of the session helpers: the record, its lastSeenAt, its index entries. */
const DROP = `local function drop(id)
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
 * keys' lifetimes are left alone if the records already had exactly `ttl` left: set in this
 * very millisecond, by a script that refreshed every key, so a PEXPIRE would change nothing. The
 * keys this add writes all existed then (they hold something while the records do), and a
 * record with channels, like a join, refreshes them all anyway.
 */
const ADD = `local function addSession(id, raw, seenAt, perUser, perIp, total, ttl)
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
  if stored or #r > 4 or redis.call('PTTL', KEYS[1]) ~= ttl + 0 then keep(ttl) end
  return 'ok'
end`

/** Session add. ARGV: the arguments of `addSession`, in order. */
export const ADD_SESSION = `${SESSION}
${ADD}
return addSession(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])`

/**
 * Admission in one script, on a Redis where every key of it is reachable (not a Cluster): the
 * attempt hits in order, the token consume, then the capped add, each the function its own
 * store's script runs, stopping at the first refusal. KEYS: the 8 session keys (the session
 * helpers' order), token key, token expiry index, rate-limit expiry index, then one window
 * counter per attempt (n: as many as KEYS beyond 11). ARGV: windowMs, retention, jti, token
 * expiresAt, n pairs of (member, limit), then the `addSession` arguments (none: count and
 * consume only). Returns { 'attempts', which (1-based), ms left }, { 'replayed' }, { cap hit }
 * or { 'ok' }.
 */
export const ADMIT = `${NOW}
${EXPIRY_INDEX}
${HIT}
${CONSUME}
${SESSION}
${ADD}
local n, retention = #KEYS - 11, ARGV[2] + 0
for i = 1, n do
  local count, ttl = hitWindow(KEYS[11 + i], KEYS[11], ARGV[1], ARGV[3 + 2 * i], retention, now)
  if count > ARGV[4 + 2 * i] + 0 then return { 'attempts', i, ttl } end
end
if consumeToken(KEYS[9], KEYS[10], ARGV[4], ARGV[3], retention, now) == 0 then
  return { 'replayed' }
end
local s = 5 + 2 * n
if not ARGV[s] then return { 'ok' } end
return { addSession(ARGV[s], ARGV[s + 1], ARGV[s + 2], ARGV[s + 3], ARGV[s + 4], ARGV[s + 5],
  ARGV[s + 6]) }`

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

/**
 * Caps helpers of a sharded session registry (see `sessions.ts`), whose records live in user
 * buckets while what the caps per IP and in total count lives in one slot. KEYS, in every caps
 * script: 1 ids (hash id -> `<bucket>:<ip>`, the directory: where each record lives), 2 ips (hash
 * ip -> count), 3 seen (zset id -> lastSeenAt, so entries whose record never came are swept).
 * The total is `HLEN ids`. `count` moves an ip's count; `release` drops an id's entry and returns
 * it (false if there was none).
 */
const CAPS = `local function entryIp(entry) return string.match(entry, '^%d+:(.*)$') end
local function count(ip, by)
  if redis.call('HINCRBY', KEYS[2], ip, by) <= 0 then redis.call('HDEL', KEYS[2], ip) end
end
local function keep(ttl) for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl) end end
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
 */
const RESERVE = `local function reserve(id, bucket, ip, seenAt, perIp, total, ttl)
  local old = redis.call('HGET', KEYS[1], id)
  local oldIp = old and entryIp(old)
  if oldIp ~= ip and perIp ~= '' then
    if tonumber(redis.call('HGET', KEYS[2], ip) or '0') >= tonumber(perIp) then return { 'ip' } end
  end
  if not old and total ~= '' and redis.call('HLEN', KEYS[1]) >= tonumber(total) then
    return { 'total' }
  end
  local oldSeen = redis.call('ZSCORE', KEYS[3], id)
  if oldIp ~= ip then
    if old then count(oldIp, -1) end
    count(ip, 1)
  end
  redis.call('HSET', KEYS[1], id, bucket .. ':' .. ip)
  redis.call('ZADD', KEYS[3], seenAt, id)
  keep(ttl)
  return { 'ok', old or '', oldSeen or '' }
end`

/** Caps reserve: the first phase of a sharded add. ARGV: the arguments of `reserve`, in order. */
export const CAPS_RESERVE = `${CAPS}
${RESERVE}
return reserve(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])`

/**
 * The caps side of an admission on a sharded registry (see `sharded-admission.ts`), in the caps
 * slot, where the connect-attempt windows of IPs live too: those attempt hits in order, then the
 * IP and total reserve, stopping at the first refusal. KEYS: the 3 caps keys, the rate-limit
 * expiry index, then one window counter per attempt. ARGV: windowMs, retention, attempts n, n
 * pairs of (member, limit), then the `reserve` arguments (none: count only). Returns
 * { 'attempts', which (1-based), ms left }, { 'ip' }, { 'total' } or what `reserve` returns
 * ({ 'ok' } without a reserve).
 */
export const CAPS_ADMIT = `${EXPIRY_INDEX}
${HIT}
${CAPS}
${RESERVE}
local n = tonumber(ARGV[3])
for i = 1, n do
  local hits, ttl = hitWindow(KEYS[4 + i], KEYS[4], ARGV[1], ARGV[2 + 2 * i], ARGV[2])
  if hits > tonumber(ARGV[3 + 2 * i]) then return { 'attempts', i, ttl } end
end
local s = 4 + 2 * n
if not ARGV[s] then return { 'ok' } end
return reserve(ARGV[s], ARGV[s + 1], ARGV[s + 2], ARGV[s + 3], ARGV[s + 4], ARGV[s + 5],
  ARGV[s + 6])`

/**
 * Token consume that writes `mark` (unique to one admission) instead of `1`, so that the
 * admission can later give back exactly its own consume (see {@link USER_GIVE_BACK}) and never
 * another caller's. Otherwise as `consumeToken`.
 */
const CONSUME_MARKED = `local function consumeMarked(key, expiry, expiresAt, jti, retention, now, mark)
  local at = tonumber(expiresAt)
  if at <= now then return 1 end
  if not redis.call('SET', key, mark, 'NX', 'PXAT', expiresAt) then return 0 end
  indexExpiry(expiry, jti, at, now, tonumber(retention))
  return 1
end`

/**
 * The user side of an admission on a sharded registry (see `sharded-admission.ts`), in the
 * user's session bucket, where that user's connect-attempt windows and the tokens the user owns
 * live too: those attempt hits in order, the token consume (marked), then the insert under the
 * per-user cap, stopping at the first refusal. KEYS: the 8 session keys, token key, token expiry
 * index, rate-limit expiry index, then one window counter per attempt. ARGV: windowMs,
 * retention, jti, token expiresAt, mark, attempts n, n pairs of (member, limit), then the
 * `addSession` arguments (none: count and consume only). Returns { 'attempts', which (1-based),
 * ms left }, { 'replayed' }, { 'user' } or { 'ok' }.
 */
export const USER_ADMIT = `${NOW}
${EXPIRY_INDEX}
${HIT}
${CONSUME_MARKED}
${SESSION}
${ADD}
local n = tonumber(ARGV[6])
for i = 1, n do
  local hits, ttl = hitWindow(KEYS[11 + i], KEYS[11], ARGV[1], ARGV[5 + 2 * i], ARGV[2])
  if hits > tonumber(ARGV[6 + 2 * i]) then return { 'attempts', i, ttl } end
end
if consumeMarked(KEYS[9], KEYS[10], ARGV[4], ARGV[3], ARGV[2], now, ARGV[5]) == 0 then
  return { 'replayed' }
end
local s = 7 + 2 * n
if not ARGV[s] then return { 'ok' } end
return { addSession(ARGV[s], ARGV[s + 1], ARGV[s + 2], ARGV[s + 3], ARGV[s + 4], ARGV[s + 5],
  ARGV[s + 6]) }`

/**
 * The give-back of a {@link USER_ADMIT} whose admission the caps side refused at its attempts
 * (or failed): what the composed calls, stopping at that refusal, would never have done. KEYS:
 * the 8 session keys, token key, token expiry index, rate-limit expiry index, then the windows
 * the user side hit. ARGV: mark, jti, session id ('' = none), then each window's member. Takes
 * one hit off each window that is still there (a window back at 0 goes, with its index entry,
 * as if never opened), deletes the token key only if it still holds `mark` (this admission's
 * consume, not another caller's), and removes the record. Returns 0.
 */
export const USER_GIVE_BACK = `${SESSION}
${DROP}
for i = 12, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 and redis.call('DECR', KEYS[i]) <= 0 then
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', KEYS[11], ARGV[i - 8])
  end
end
if redis.call('GET', KEYS[9]) == ARGV[1] then
  redis.call('DEL', KEYS[9])
  redis.call('ZREM', KEYS[10], ARGV[2])
end
if ARGV[3] ~= '' then drop(ARGV[3]) end
return 0`

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

/**
 * History helpers. A stream's entries are a list, oldest first, of
 * `<seq>:<prev>:<expiresAt>:<body>`, where `prev` is the last seq handed out in the stream before
 * this one (0 for a stream's first). Entries leave only from the head (trimmed or expired), so
 * the oldest entry still held tells what was dropped before it: every seq up to its `prev`.
 * `parse` reads an entry's numbers; `prune` pops the head while it expired before `limit`
 * (exclusive) and returns how many; `reindex` scores the stream in the expiry index by its oldest
 * entry's expiry, or removes it when the list is empty; `last` is the last seq handed out: the
 * counter, or the newest entry if the counter is behind it (evicted on its own).
 */
const HISTORY = `local function parse(entry)
  local seq, prev, at = string.match(entry, '^(%d+):(%d+):(%d+):')
  return tonumber(seq), tonumber(prev), tonumber(at)
end
local function prune(log, limit)
  local n = 0
  while true do
    local first = redis.call('LINDEX', log, 0)
    if not first or select(3, parse(first)) >= limit then return n end
    redis.call('LPOP', log)
    n = n + 1
  end
end
local function reindex(log, index, stream)
  local first = redis.call('LINDEX', log, 0)
  if first then redis.call('ZADD', index, select(3, parse(first)), stream)
  else redis.call('ZREM', index, stream) end
end
local function last(counter, log)
  local tail = redis.call('LINDEX', log, -1)
  return math.max(tonumber(redis.call('GET', counter) or '0'), tail and parse(tail) or 0)
end
local function int(n) return string.format('%.0f', n) end`

/**
 * History append. KEYS: counter, log, expiry index. ARGV: stream, body, maxLength, ttlMs,
 * retention. The seq is the last one plus 1, or the server's clock in microseconds if that is
 * higher (a hybrid logical clock). So seqs never go back even if the counter does (a failover to
 * a replica that missed the last writes, a counter evicted, or lost with a Redis that forgot its
 * data), unless the stream averaged more than one append per microsecond (far beyond what one
 * Redis runs) or the server's clock went back by more than the time since. The counter has no
 * TTL: while it is there, seqs increase whatever the clock does. Then pushes the entry, trims to
 * maxLength, drops the expired head, re-indexes, and lets the list and the index expire
 * `retention` after their last entry. Returns the seq.
 */
export const APPEND_HISTORY = `${NOW}
${HISTORY}
local prev = last(KEYS[1], KEYS[2])
local seq = math.max(prev + 1, t[1] * 1000000 + t[2])
redis.call('SET', KEYS[1], int(seq))
local at = now + tonumber(ARGV[4])
local entry = int(seq) .. ':' .. int(prev) .. ':' .. int(at) .. ':' .. ARGV[2]
local length = redis.call('RPUSH', KEYS[2], entry)
local excess = length - tonumber(ARGV[3])
if excess > 0 then redis.call('LTRIM', KEYS[2], excess, -1) end
prune(KEYS[2], now + 1)
reindex(KEYS[2], KEYS[3], ARGV[1])
local keep = at - now + tonumber(ARGV[5])
for i = 2, 3 do
  if redis.call('PTTL', KEYS[i]) < keep then redis.call('PEXPIRE', KEYS[i], keep) end
end
return seq`

/**
 * History read; changes nothing. KEYS: counter, log. ARGV: afterSeq. Entries expired at the head
 * count as dropped. `lost` is the highest seq that may have been dropped: the `prev` of the first
 * live entry, or, with none, the last seq handed out. Returns { complete (1 or 0), entries with
 * seq > afterSeq... }.
 */
export const READ_HISTORY = `${NOW}
${HISTORY}
local after = tonumber(ARGV[1])
local entries = redis.call('LRANGE', KEYS[2], 0, -1)
local lost, first = nil, #entries + 1
for i, entry in ipairs(entries) do
  local _, prev, at = parse(entry)
  if at > now then
    lost, first = prev, i
    break
  end
end
if not lost then lost = last(KEYS[1], KEYS[2]) end
local out = { after >= lost and 1 or 0 }
for i = first, #entries do
  if parse(entries[i]) > after then table.insert(out, entries[i]) end
end
return out`

/** History head: the last seq handed out (0 for a stream never appended to). KEYS: counter, log. */
export const HEAD_HISTORY = `${HISTORY}
return last(KEYS[1], KEYS[2])`

/**
 * The streams whose oldest entry expired before `before` and by now. KEYS: expiry index.
 * ARGV: before, batch.
 */
export const DUE_HISTORY = `${NOW}
local limit = tonumber(ARGV[1]) <= now and '(' .. ARGV[1] or now
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', limit, 'LIMIT', 0, ARGV[2])`

/**
 * History sweep of one stream: drops the head entries that expired before `before` and by now,
 * re-indexes the stream. KEYS: log, expiry index. ARGV: stream, before. Returns how many.
 */
export const PRUNE_HISTORY = `${NOW}
${HISTORY}
local n = prune(KEYS[1], math.min(tonumber(ARGV[2]), now + 1))
reindex(KEYS[1], KEYS[2], ARGV[1])
return n`

/**
 * Resume helpers. KEYS, in every resume script: 1 expiry index (zset id -> expiresAt), 2 users
 * (hash id -> userId), then session hashes (`u` userId, `h` credential hash, `s` state, `e`
 * expiresAt as given), each expiring at its `expiresAt` (`PXAT`). The index and the users hash
 * outlive the session keys: `sweep` reports a session from them even after Redis dropped its key.
 * `live` is true for a session key still there and not expired (a key lives one ms past its
 * `PXAT`); `keep` lets the index and users expire `retention` after the latest expiry.
 */
const RESUME = `local function live(key, now)
  local e = redis.call('HGET', key, 'e')
  return e and tonumber(e) > now
end
local function keep(now, at, retention)
  local ms = math.max(at - now, 0) + retention
  for i = 1, 2 do
    if redis.call('PTTL', KEYS[i]) < ms then redis.call('PEXPIRE', KEYS[i], ms) end
  end
end`

/**
 * Resume save (or update). KEYS: index, users, session. ARGV: id, userId, credentialHash, state,
 * expiresAt, expiresAt in whole ms, retention, '1' to write only over a live session (update).
 * Returns 1 if written.
 */
export const SAVE_RESUME = `${NOW}
${RESUME}
if ARGV[8] == '1' and not live(KEYS[3], now) then return 0 end
redis.call('HSET', KEYS[3], 'u', ARGV[2], 'h', ARGV[3], 's', ARGV[4], 'e', ARGV[5])
redis.call('PEXPIREAT', KEYS[3], ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
keep(now, tonumber(ARGV[6]), tonumber(ARGV[7]))
return 1`

/**
 * Resume claim: compare and delete in one script, so that of concurrent claims at most one gets
 * the session. KEYS: index, users, session. ARGV: id, credentialHash. Returns { userId, state,
 * expiresAt } or nil.
 *
 * Constant time: Lua compares strings by identity after interning them, and interning compares
 * the bytes with memcmp, which stops at the first difference. So the hashes are not compared
 * themselves: their SHA-1 digests are (the double-hash comparison), so whatever the comparison's
 * time depends on is a digest the caller can neither choose nor predict. It gives little anyway:
 * the compared values are SHA-256 digests the core computes from the presented credential, so
 * learning a prefix of the stored digest would not bring an attacker closer to a credential, and
 * nanoseconds inside Redis drown in network jitter.
 */
export const CLAIM_RESUME = `${NOW}
${RESUME}
local s = redis.call('HMGET', KEYS[3], 'u', 'h', 's', 'e')
if not s[4] or tonumber(s[4]) <= now then return false end
if redis.sha1hex(s[2]) ~= redis.sha1hex(ARGV[2]) then return false end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return { s[1], s[3], s[4] }`

/**
 * Resume touch. KEYS: index, users, sessions... ARGV: expiresAt, expiresAt in whole ms,
 * retention, then the ids of the session keys, in order. Unknown or expired sessions are skipped.
 */
export const TOUCH_RESUMES = `${NOW}
${RESUME}
local n = 0
for i = 3, #KEYS do
  if live(KEYS[i], now) then
    redis.call('HSET', KEYS[i], 'e', ARGV[1])
    redis.call('PEXPIREAT', KEYS[i], ARGV[2])
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i + 1])
    n = n + 1
  end
end
if n > 0 then keep(now, tonumber(ARGV[2]), tonumber(ARGV[3])) end
return n`

/**
 * Resume remove. KEYS: index, users, session. ARGV: id. Returns 1 if the session was there (its
 * key, or its index entry: one that expired but was not swept yet is removed unreported).
 */
export const REMOVE_RESUME = `local n = redis.call('DEL', KEYS[3])
n = n + redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return n > 0 and 1 or 0`

/**
 * Resume sweep: takes out of the index the sessions that expired before `before` and by now, and
 * returns them; their keys are already gone (or go within the ms), by `PXAT`. KEYS: index,
 * users. ARGV: before, batch. Returns a flat list of id, userId, expiresAt.
 */
export const SWEEP_RESUMES = `${NOW}
local limit = tonumber(ARGV[1]) <= now and '(' .. ARGV[1] or now
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', limit, 'WITHSCORES', 'LIMIT', 0, ARGV[2])
local out = {}
for i = 1, #due, 2 do
  local id = due[i]
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[2], id) or '')
  table.insert(out, due[i + 1])
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return out`
