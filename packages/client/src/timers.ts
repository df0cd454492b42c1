/**
 * The client's clock and timers: the `Timers` it reads the time from and sets its timers with,
 * and the platform's, used unless another is given.
 *
 * @module
 */
/**
 * Where the client reads the time and sets its timers. Injectable, so that tests can drive time
 * (and simulate a throttled or suspended tab) without waiting.
 */
export interface Timers {
  /** Wall-clock time in ms. */
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The platform's clock and timers. */
export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}
