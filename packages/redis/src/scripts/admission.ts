/**
 * The Lua of the admissions in one script per slot, made of the functions the separate stores'
 * scripts run: `ADMIT` (one admission or several in order) where every key is reachable (not a
 * Cluster), and on a sharded layout the caps side (`CAPS_ADMIT`), the user side (`USER_ADMIT`)
 * and the user side's give-back (`USER_GIVE_BACK`).
 *
 * @module
 */
import { CAPS, RESERVE } from './caps.js'
import { CONSUME, HIT } from './expiring-keys.js'
import { ADD, DROP, SESSION } from './sessions.js'
import { CLOCK, EXPIRY_INDEX, NOW } from './shared.js'

/**
 * The attempt hits of an admission script, as a function of the hit and expiry index helpers:
 * attempt i (1 to n) hits the window `KEYS[k + i]`, its member and limit are `ARGV[a + 2i]` and
 * `ARGV[a + 2i + 1]`, in order, stopping at the first hit over its limit. The windows it opens
 * are indexed in `expiry` two to a write (`pending`: one opened, not yet indexed).
 * `retention`: a number. `now`: the script's clock, if it read it (else `TIME`, only when a
 * window opened). Returns the refused attempt (1-based) and the ms left in its window, or
 * nothing.
 */
const ATTEMPTS = `local function hitAttempts(n, k, a, expiry, windowMs, retention, now)
  local pending, span, refused, left
  for i = 1, n do
    local count, ttl, opened = hitWindow(KEYS[k + i], windowMs)
    if opened then
      if pending then
        now = now or clock()
        indexExpiry(expiry, pending, now + ttl, now, retention, nil, ARGV[a + 2 * i])
        pending = nil
      else
        pending, span = ARGV[a + 2 * i], ttl
      end
    end
    if count > ARGV[a + 2 * i + 1] + 0 then
      refused, left = i, ttl
      break
    end
  end
  if pending then
    now = now or clock()
    indexExpiry(expiry, pending, now + span, now, retention)
  end
  return refused, left
end`

/**
 * One admission of {@link ADMIT} as a function: the attempt hits in order, the token consume,
 * then the capped add, each the function its own store's script runs, stopping at the first
 * refusal. Its token key is `KEYS[k]`, its windows follow; its arguments start at `ARGV[a]`:
 * attempts n, session ('1' | '0'), windowMs, jti, token expiresAt, n pairs of (member, limit),
 * then with a session the `addSession` arguments but ttl. `tokens`/`windows`: the expiry
 * indexes; `retention`, `ttl`: numbers. Returns 'attempts', which (1-based), ms left; or
 * 'replayed', a cap hit or 'ok'.
 */
const ADMIT_ONE = `local function admitOne(k, a, n, tokens, windows, retention, ttl)
  local refused, left = hitAttempts(n, k, a + 3, windows, ARGV[a + 2], retention, now)
  if refused then return 'attempts', refused, left end
  if consumeToken(KEYS[k], tokens, ARGV[a + 4], ARGV[a + 3], retention, now) == 0 then
    return 'replayed'
  end
  if ARGV[a + 1] == '0' then return 'ok' end
  local s = a + 5 + 2 * n
  return addSession(ARGV[s], ARGV[s + 1], ARGV[s + 2], ARGV[s + 3], ARGV[s + 4], ARGV[s + 5],
    ttl)
end`

/**
 * Admissions in one script, on a Redis where every key of them is reachable (not a Cluster):
 * each as `admitOne`, in order, so that a later one sees what an earlier one counted, consumed
 * and inserted. KEYS: the 8 session keys (the session helpers' order), the token expiry index,
 * the rate-limit expiry index, then per admission its token key and one window counter per
 * attempt. ARGV: retention, session ttl, then per admission the arguments `admitOne` reads.
 * Returns what `admitOne` returned for each admission, in order, in one flat list (a list per
 * admission would cost Redis a conversion each). (`admit` is a call of one.)
 */
export const ADMIT = `${NOW}
${CLOCK}
${EXPIRY_INDEX}
${HIT}
${ATTEMPTS}
${CONSUME}
${SESSION}
${ADD}
${ADMIT_ONE}
local retention, ttl = ARGV[1] + 0, ARGV[2] + 0
local replies, k, a = {}, 11, 3
while a <= #ARGV do
  local n = ARGV[a] + 0
  local status, which, left = admitOne(k, a, n, KEYS[9], KEYS[10], retention, ttl)
  replies[#replies + 1] = status
  if which then
    replies[#replies + 1] = which
    replies[#replies + 1] = left
  end
  k = k + 1 + n
  a = a + 5 + 2 * n + (ARGV[a + 1] == '0' and 0 or 6)
end
return replies`

/**
 * The caps side of an admission on a sharded registry (see `sharded-admission.ts`), in the caps
 * slot, where the connect-attempt windows of IPs live too: those attempt hits in order, then the
 * IP and total reserve, stopping at the first refusal. KEYS: the 3 caps keys, the rate-limit
 * expiry index, then one window counter per attempt. ARGV: windowMs, retention, attempts n, n
 * pairs of (member, limit), then the `reserve` arguments (none: count only). Returns
 * { 'attempts', which (1-based), ms left }, { 'ip' }, { 'total' } or what `reserve` returns
 * ({ 'ok' } without a reserve).
 */
export const CAPS_ADMIT = `${CLOCK}
${EXPIRY_INDEX}
${HIT}
${ATTEMPTS}
${CAPS}
${RESERVE}
local n = ARGV[3] + 0
local refused, left = hitAttempts(n, 4, 2, KEYS[4], ARGV[1], ARGV[2] + 0)
if refused then return { 'attempts', refused, left } end
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
  local at = expiresAt + 0
  if at <= now then return 1 end
  if not redis.call('SET', key, mark, 'NX', 'PXAT', expiresAt) then return 0 end
  indexExpiry(expiry, jti, at, now, retention + 0, expiresAt)
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
${CLOCK}
${EXPIRY_INDEX}
${HIT}
${ATTEMPTS}
${CONSUME_MARKED}
${SESSION}
${ADD}
local n, retention = ARGV[6] + 0, ARGV[2] + 0
local refused, left = hitAttempts(n, 11, 5, KEYS[11], ARGV[1], retention, now)
if refused then return { 'attempts', refused, left } end
if consumeMarked(KEYS[9], KEYS[10], ARGV[4], ARGV[3], retention, now, ARGV[5]) == 0 then
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
