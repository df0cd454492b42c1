/**
 * The conformance harness: the stores a suite provides, how a group gets a fresh set per test and
 * closes it, and the helpers the groups share (unique names, waiting).
 *
 * @module
 */
import type {
  AdmissionStore,
  Broker,
  HistoryStore,
  LockStore,
  RateLimitStore,
  ResumeStore,
  SessionStore,
  TokenStore,
} from '@ws-warden/core/stores'

/** A fresh, isolated set of stores: one call per test. */
export interface ConformanceStores {
  readonly sessions?: SessionStore | undefined
  readonly tokens?: TokenStore | undefined
  readonly rateLimits?: RateLimitStore | undefined
  readonly broker?: Broker | undefined
  readonly locks?: LockStore | undefined
  readonly history?: HistoryStore | undefined
  readonly resumes?: ResumeStore | undefined
  /** One-round-trip admission over this set's sessions, tokens and rate limits. */
  readonly admission?: AdmissionStore | undefined
  /** Runs after each test, pass or fail: close the stores and drop their data here. */
  readonly cleanup?: (() => Promise<void>) | undefined
}

/** What {@link storeConformance} needs: a way to register tests, and stores to test. */
export interface ConformanceOptions {
  /**
   * Registers one test with the runner. Under tap: `(name, fn) => t.test(name, async () => fn())`;
   * under `node:test`: `(name, fn) => test(name, fn)`. A test fails by rejecting.
   */
  readonly register: (name: string, fn: () => Promise<void>) => void
  /**
   * Creates the stores under test, called once per test (and once up front to see which stores
   * there are). Stores of one call must not see another call's data: use a fresh key prefix,
   * schema or database per call. A store left out skips its group of tests.
   */
  readonly createStores: () => Promise<ConformanceStores>
  /**
   * How long the broker tests wait for a delivery before failing.
   * @default 2000
   */
  readonly deliveryTimeoutMs?: number | undefined
}

/** The stores the suite knows, by their key in {@link ConformanceStores}. */
export type StoreKind =
  'sessions' | 'tokens' | 'rateLimits' | 'broker' | 'locks' | 'history' | 'resumes' | 'admission'

type StoreOf<K extends StoreKind> = NonNullable<ConformanceStores[K]>

/** Registers one test of a group; the test gets the group's store from a fresh set. */
export type GroupTest<K extends StoreKind> = (
  name: string,
  body: (store: StoreOf<K>) => Promise<void>,
) => void

/** Makes the test registrar of one group: names are prefixed, stores fresh, cleanup certain. */
export function group<K extends StoreKind>(options: ConformanceOptions, kind: K): GroupTest<K> {
  return (name, body) => {
    options.register(`${kind}: ${name}`, async () => {
      const stores = await options.createStores()
      try {
        const store = stores[kind]
        if (store === undefined) {
          throw new Error(`createStores returned no ${kind} store this time, but did at first`)
        }
        await body(store as StoreOf<K>)
      } finally {
        await stores.cleanup?.()
      }
    })
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A fresh name, so that one test's keys never meet another's. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`
}

/** Resolves once `done()` is true, polling; rejects with `what` after `timeoutMs`. */
export async function waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(5)
  }
}
