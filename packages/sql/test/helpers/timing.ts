export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * What `promise` settles to within `ms`: its value, the error it rejected with, or the string
 * 'hung'. The bound is generous: it tells a hang from a failure, it measures nothing.
 */
export async function settleWithin<T>(
  promise: Promise<T>,
  ms = 15_000,
): Promise<T | Error | 'hung'> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), ms)))
  try {
    return await Promise.race([promise.catch((error: unknown) => error as Error), hung])
  } finally {
    clearTimeout(timer)
  }
}

/** Calls `attempt` until it resolves (returning its value), or rethrows after `ms`. */
export async function eventually<T>(attempt: () => Promise<T>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await attempt()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await sleep(50)
    }
  }
}
