/**
 * The per-connection message token bucket: no I/O, no timer.
 *
 * @module
 */
/** A token bucket's state: the tokens left and when they were last refilled. */
export interface BucketState {
  bucketTokens: number
  bucketAt: number
}

/**
 * Takes one token from a bucket that refills at `ratePerSecond` up to `burst`. In process, no
 * I/O: this is the per-connection message limit, checked before a message is even parsed.
 */
export function takeToken(
  state: BucketState,
  now: number,
  ratePerSecond: number,
  burst: number,
): boolean {
  const elapsed = now - state.bucketAt
  if (elapsed > 0) {
    state.bucketTokens = Math.min(burst, state.bucketTokens + (elapsed * ratePerSecond) / 1000)
    state.bucketAt = now
  }
  if (state.bucketTokens < 1) return false
  state.bucketTokens -= 1
  return true
}
