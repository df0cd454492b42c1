/**
 * The Lua of the records that Redis expires by itself and an expiry index counts: single-use
 * token ids (consume) and rate-limit windows (hit), and the sweep of an expiry index with its dry
 * run. The consume and hit functions are also run by the admission scripts (`admission.ts`).
 *
 * @module
 */
import { CLOCK, EXPIRY_INDEX, NOW } from './shared.js'

/**
 * Token consume as a function (also run by the admission script). `expiry`: the expiry index;
 * `expiresAt` (epoch ms, as given), `jti`, `retention`. `SET NX PXAT` makes the first caller win
 * cluster-wide; a token already expired is `1` without a write (it can never verify again).
 * Returns 1 (first use) or 0 (replay).
 */
export const CONSUME = `local function consumeToken(key, expiry, expiresAt, jti, retention, now)
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
 * key's first hit. Every hit counts, refused ones too; the expiry is set once per window (or
 * repaired if lost), so refused hits never extend it. A count of 1 is a key INCR just made, so
 * without an expiry: no PTTL then. Returns count, ms left in the window, and true if the hit
 * opened the window (or repaired it): its expiry index entry is the caller's to write (see
 * `indexExpiry`), so that two windows opened together are indexed in one write.
 */
export const HIT = `local function hitWindow(counter, windowMs)
  local count = redis.call('INCR', counter)
  local ttl = count > 1 and redis.call('PTTL', counter) or -1
  if ttl >= 0 then return count, ttl, false end
  redis.call('PEXPIRE', counter, windowMs)
  return count, windowMs + 0, true
end`

/**
 * Rate-limit hit. KEYS: counter, expiry index. ARGV: windowMs, member, retention.
 * Returns { count, ms left in the window }.
 */
export const HIT_WINDOW = `${CLOCK}
${EXPIRY_INDEX}
${HIT}
local count, ttl, opened = hitWindow(KEYS[1], ARGV[1])
if opened then
  local now = clock()
  indexExpiry(KEYS[2], ARGV[2], now + ttl, now, ARGV[3] + 0)
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
