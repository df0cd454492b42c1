import type { Clock } from '../types.js'

/** `Date.now`, the clock every memory store uses unless given another. */
export const systemClock: Clock = { now: () => Date.now() }

/** Returns `value` if it is a positive integer; otherwise throws a `TypeError` naming `what`. */
export function positiveInteger(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new TypeError(`ws-warden: ${what} must be a positive integer, got ${String(value)}`)
  }
  return value
}

/** A positive integer option of `owner`, or `fallback` when it is undefined. */
export function countOption(owner: string, name: string, value: unknown, fallback: number): number {
  return value === undefined ? fallback : positiveInteger(`${owner} option ${name}`, value)
}

/** The clock option of `owner`, or the system clock when it is undefined. */
export function clockOption(owner: string, value: unknown): Clock {
  if (value === undefined) return systemClock
  if (typeof (value as Partial<Clock> | null)?.now !== 'function') {
    throw new TypeError(`ws-warden: ${owner} option clock must be an object with a now() method`)
  }
  return value as Clock
}
