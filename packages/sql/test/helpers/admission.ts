import {
  SqlAdmissionStore,
  SqlRateLimitStore,
  SqlSessionStore,
  SqlTokenStore,
  type SqlStoreOptions,
} from '../../src/index.js'

/** What {@link admissionOn} takes: the stores' options, and the admission's own. */
export type AdmissionOptions = SqlStoreOptions & { admissionSynchronousCommit?: 'on' | 'off' }

/** The three stores and an admission over `options`' tables. */
export function admissionOn(options: AdmissionOptions): SqlAdmissionStore {
  return new SqlAdmissionStore({
    ...options,
    sessions: new SqlSessionStore(options),
    tokens: new SqlTokenStore(options),
    rateLimits: new SqlRateLimitStore(options),
  })
}
