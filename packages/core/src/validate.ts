/**
 * The option validators every options reader uses (warden options, memory stores, refresh,
 * resumption, sweep, tokens, and the store packages through `@ws-warden/core/stores`): each checks
 * one value and throws a `TypeError` naming it.
 *
 * @module
 */
import type { Clock } from './types.js'

/** `Date.now`, the clock used unless another is given. */
export const systemClock: Clock = { now: () => Date.now() }

/** True for an integer above zero. */
export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0
}

/** True for a safe integer above zero (token lifetimes: they feed date arithmetic). */
export function isPositiveSafeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

/** True for a string that is not empty. */
export function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

/** True for an array of strings. */
export function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string')
}

/** True for a plain object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Returns `value` if it is a positive integer; otherwise throws a `TypeError` naming `what`. */
export function positiveInteger(what: string, value: unknown): number {
  if (!isPositiveInteger(value)) {
    throw new TypeError(`ws-warden: ${what} must be a positive integer, got ${String(value)}`)
  }
  return value
}

/** A positive integer option (`option <name>`), or `fallback` when it is undefined. */
export function integerOption(name: string, value: unknown, fallback: number): number {
  return value === undefined ? fallback : positiveInteger(`option ${name}`, value)
}

/** Like {@link integerOption}, and 0 is allowed too (a duration that may be zero). */
export function durationOption(name: string, value: unknown, fallback: number): number {
  return value === 0 ? 0 : integerOption(name, value, fallback)
}

/** An age option: a non-negative integer, or `fallback` when it is undefined. */
export function ageOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new TypeError(
      `ws-warden: option ${name} must be a non-negative integer, got ${String(value)}`,
    )
  }
  return value
}

/** A positive integer option of `owner` (a store), or `fallback` when it is undefined. */
export function countOption(owner: string, name: string, value: unknown, fallback: number): number {
  return value === undefined ? fallback : positiveInteger(`${owner} option ${name}`, value)
}

/** Throws a `TypeError` unless `value` is a non-empty string; `what` names the argument. */
export function nonEmpty(what: string, value: unknown): asserts value is string {
  if (!isNonEmptyString(value)) throw new TypeError(`ws-warden: ${what} needs a non-empty string`)
}

/** The clock option of `owner`, or the system clock when it is undefined. */
export function clockOption(owner: string, value: unknown): Clock {
  if (value === undefined) return systemClock
  if (typeof (value as Partial<Clock> | null)?.now !== 'function') {
    throw new TypeError(`ws-warden: ${owner} option clock must be an object with a now() method`)
  }
  return value as Clock
}

/** The `onError` option of `owner` (a store or broker): a function, or undefined. */
export function onErrorOption<F extends (...args: never[]) => void>(
  owner: string,
  value: F | undefined,
): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`ws-warden: ${owner} option onError must be a function`)
  }
  return value
}

/** An option holding an array of non-empty strings, or undefined when it is undefined. */
export function stringListOption(name: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.some((item) => !isNonEmptyString(item))) {
    throw new TypeError(`ws-warden: option ${name} must be an array of non-empty strings`)
  }
  return value as string[]
}

/** A switchable feature's option (`true`, `false`, an object); throws for anything else. */
export function featureOption<T extends object>(
  name: string,
  value: T | boolean | undefined,
  heartbeat: boolean,
): T | Record<string, never> | false {
  if (value === undefined || value === false) return false
  if (value !== true && (typeof value !== 'object' || value === null)) {
    throw new TypeError(`ws-warden: option ${name} must be a boolean or an object`)
  }
  if (!heartbeat) {
    throw new TypeError(`ws-warden: option ${name} needs heartbeats (heartbeat is false)`)
  }
  return value === true ? {} : value
}
