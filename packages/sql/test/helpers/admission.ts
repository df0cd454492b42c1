import {
  SqlAdmissionStore,
  SqlRateLimitStore,
  SqlSessionStore,
  SqlTokenStore,
  type SqlAdmissionStoreOptions,
} from '../../src/index.js'

/** The admission's options without its stores: {@link admissionOn} makes those. */
export type AdmissionOptions = Omit<SqlAdmissionStoreOptions, 'sessions' | 'tokens' | 'rateLimits'>

/** The three stores and an admission over `options`' tables. */
export function admissionOn(options: AdmissionOptions): SqlAdmissionStore {
  return new SqlAdmissionStore({
    ...options,
    sessions: new SqlSessionStore(options),
    tokens: new SqlTokenStore(options),
    rateLimits: new SqlRateLimitStore(options),
  })
}
