/**
 * The Lua of the resume store: the resume helpers and the save, claim (compare and delete in
 * constant time), touch, remove and sweep scripts.
 *
 * @module
 */
import { NOW } from './shared.js'

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
