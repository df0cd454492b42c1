/**
 * The Lua of the history store: the history helpers (entry encoding, head pruning, the expiry
 * index, the last seq) and the append, read, head, due and prune scripts.
 *
 * @module
 */
import { NOW } from './shared.js'

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
