/**
 * Constant-time comparison of opaque credentials (API keys, resume credentials). JWT signatures
 * are compared elsewhere: HS256 ones with `timingSafeEqual` in `hs256.ts`, key-pair ones inside
 * `jose`.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

const comparisonKey = randomBytes(32)

/**
 * Compares two strings in time that depends on neither their contents nor their lengths: both
 * are HMAC'd with a per-process random key and the digests compared with `timingSafeEqual`. For
 * opaque credentials (API keys, resume tokens), not JWT signatures.
 */
export function timingSafeEqualStrings(a: string, b: string): boolean {
  // UTF-16 code units, so two strings that differ only in lone surrogates stay different.
  const digestA = createHmac('sha256', comparisonKey).update(a, 'utf16le').digest()
  const digestB = createHmac('sha256', comparisonKey).update(b, 'utf16le').digest()
  return timingSafeEqual(digestA, digestB)
}
