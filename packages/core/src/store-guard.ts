/**
 * The store guard: every store call bounded in time, its failures turned into
 * `StoreUnavailableError`.
 *
 * @module
 */
import { StoreUnavailableError, WardenError } from './errors.js'

/**
 * How late the guard's timer may fire and still count as on time. A timer fires later than that
 * only when the event loop was busy (a large synchronous fan-out, a long computation).
 */
export const LOOP_DELAY_TOLERANCE_MS = 10

/**
 * Runs one store call, named by its store (the `stores` option's key: `sessions`, `rateLimits`,
 * ...) and its operation (`add`, `hit`, ...): the warden bounds it in time, times it and traces
 * it; the default of the stores' own helpers just runs it.
 */
export type StoreCall = <T>(store: string, op: string, operation: () => Promise<T>) => Promise<T>

/**
 * Bounds a store call in time and gives its failures one type. A store that hangs (a dead Redis
 * with an offline queue, an exhausted SQL pool) answers with `StoreUnavailableError` after
 * `timeoutMs` instead of holding a handshake open.
 *
 * Time the event loop spends busy does not count against the store: Node runs due timers before
 * it reads sockets, so after a long synchronous task the timer would fire before an answer that
 * arrived meanwhile is read. A timer that fires late is armed again for as long as it was late
 * (at most `timeoutMs` more in all), and the answer, if it is there, is read first.
 */
export function guardStore<T>(
  store: string,
  timeoutMs: number,
  operation: () => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let due = performance.now() + timeoutMs
    let granted = 0
    let timer: NodeJS.Timeout
    const arm = (ms: number): void => {
      timer = setTimeout(expire, ms)
      timer.unref()
    }
    const expire = (): void => {
      const now = performance.now()
      const late = now - due
      if (late > LOOP_DELAY_TOLERANCE_MS && granted < timeoutMs) {
        const extra = Math.min(late, timeoutMs - granted)
        granted += extra
        due = now + extra
        arm(extra)
        return
      }
      reject(
        new StoreUnavailableError(store, `${store} store did not answer within ${timeoutMs} ms`),
      )
    }
    arm(timeoutMs)
    let pending: Promise<T>
    try {
      pending = operation()
    } catch (error) {
      pending = Promise.reject(error)
    }
    pending.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(storeFailure(store, error))
      },
    )
  })
}

/**
 * Runs one call of an in-process store, which answers in the same tick and cannot hang: no
 * timer, the same failures as {@link guardStore}.
 */
export function inProcessCall<T>(store: string, operation: () => Promise<T>): Promise<T> {
  let pending: Promise<T>
  try {
    pending = operation()
  } catch (error) {
    pending = Promise.reject(error)
  }
  return pending.catch((error: unknown) => {
    throw storeFailure(store, error)
  })
}

/** A store's failure as the warden reports it: its own errors as they are, the rest wrapped. */
export function storeFailure(store: string, error: unknown): WardenError {
  return error instanceof WardenError
    ? error
    : new StoreUnavailableError(store, `${store} store failed`, { cause: error })
}
