/**
 * The Lua of the records that Redis expires by itself and an expiry index counts: single-use
 * token ids (consume) and rate-limit windows (hit), and the sweep of an expiry index with its dry
 * run. The consume and hit functions are also run by the admission scripts (`admission.ts`).
 *
 * @module
 */
import { EXPIRY_INDEX, NOW } from './shared.js'

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
 * key's first hit. `expiry`: the expiry index; `member`: the caller's key; `now`: the server's
 * clock if the caller read it already (else `TIME`, only when a window opens). Every hit counts,
 * refused ones too; the expiry is set once per window (or repaired if lost), so refused hits
 * never extend it. A count of 1 is a key INCR just made, so without an expiry: no PTTL then.
 * Returns count, ms left in the window.
 */
export const HIT = `local function hitWindow(counter, expiry, windowMs, member, retention, now)
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
