/**
 * The store conformance suite: one set of tests that every ws-warden store runs against itself
 * (memory, Redis, PostgreSQL, MySQL), on any test runner.
 *
 * ```ts
 * import t from 'tap'
 * import { MemoryTokenStore, MemoryRateLimitStore } from '@ws-warden/core/stores'
 * import { storeConformance } from '@ws-warden/store-tests'
 *
 * await storeConformance({
 *   register: (name, fn) => t.test(name, async () => fn()),
 *   // A shared server needs a fresh key prefix (or schema) per call, dropped in cleanup.
 *   createStores: async () => {
 *     const tokens = new MemoryTokenStore()
 *     const rateLimits = new MemoryRateLimitStore()
 *     const cleanup = async () => void (await Promise.all([tokens.close(), rateLimits.close()]))
 *     return { tokens, rateLimits, cleanup }
 *   },
 * })
 * ```
 *
 * @packageDocumentation
 */
import { admissionConformance } from './admission.js'
import { admitManyConformance } from './admission-many.js'
import { brokerConformance } from './broker.js'
import { historyConformance } from './history.js'
import { lockConformance } from './locks.js'
import type { ConformanceOptions, StoreKind } from './harness.js'
import { rateLimitConformance } from './rate-limits.js'
import { removeManyConformance } from './remove-many.js'
import { resumeConformance } from './resumes.js'
import { sessionConformance } from './sessions.js'
import { tokenConformance } from './tokens.js'

export type { ConformanceOptions, ConformanceStores, StoreKind } from './harness.js'
export {
  admissionConformance,
  admitManyConformance,
  brokerConformance,
  historyConformance,
  lockConformance,
  rateLimitConformance,
  removeManyConformance,
  resumeConformance,
  sessionConformance,
  tokenConformance,
}

const groups: Record<StoreKind, (options: ConformanceOptions) => void> = {
  sessions: sessionConformance,
  tokens: tokenConformance,
  rateLimits: rateLimitConformance,
  broker: brokerConformance,
  locks: lockConformance,
  history: historyConformance,
  resumes: resumeConformance,
  admission: admissionConformance,
}

/**
 * Registers the conformance tests of every store `createStores` returns. It calls `createStores`
 * once (then `cleanup`) to see which stores there are, registers their groups, and resolves
 * with the kinds it registered (an admission store with `admitMany` also gets that group, a session store with
 * `removeMany` that one); the
 * tests themselves run when the runner runs them. Rejects if
 * there is no store at all, or if the first `createStores` fails (a missing server is a failure,
 * never a skip).
 */
export async function storeConformance(options: ConformanceOptions): Promise<StoreKind[]> {
  if (typeof options?.register !== 'function' || typeof options.createStores !== 'function') {
    throw new TypeError('ws-warden: storeConformance needs register and createStores functions')
  }
  const timeout = options.deliveryTimeoutMs
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) {
    throw new TypeError(
      'ws-warden: storeConformance option deliveryTimeoutMs must be a positive integer',
    )
  }
  const probe = await options.createStores()
  await probe.cleanup?.()
  const kinds = (Object.keys(groups) as StoreKind[]).filter((kind) => probe[kind] !== undefined)
  if (kinds.length === 0) {
    throw new Error(
      'ws-warden: createStores returned no store (sessions, tokens, rateLimits, broker, locks, history, resumes or admission)',
    )
  }
  for (const kind of kinds) groups[kind](options)
  if (probe.admission?.admitMany !== undefined) admitManyConformance(options)
  if (probe.sessions?.removeMany !== undefined) removeManyConformance(options)
  return kinds
}
