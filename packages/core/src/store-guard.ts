import { StoreUnavailableError, WardenError } from './errors.js'

/**
 * Bounds a store call in time and gives its failures one type. A store that hangs (a dead Redis
 * with an offline queue, an exhausted SQL pool) answers with `StoreUnavailableError` after
 * `timeoutMs` instead of holding a handshake open.
 */
export function guardStore<T>(
  store: string,
  timeoutMs: number,
  operation: () => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new StoreUnavailableError(store, `${store} store did not answer within ${timeoutMs} ms`),
      )
    }, timeoutMs)
    timer.unref()
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
        reject(
          error instanceof WardenError
            ? error
            : new StoreUnavailableError(store, `${store} store failed`, { cause: error }),
        )
      },
    )
  })
}
