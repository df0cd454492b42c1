import type { AdmitRequest } from '@ws-warden/core/stores'

/**
 * The admission test files' request builder: each call is a fresh connection (id `c<n>`, token
 * `j<n>`) of `user` from `ip`, with attempt limits and caps that refuse nothing, and `over`
 * replacing any field.
 */
export function admitRequests() {
  let n = 0
  return (over: Partial<AdmitRequest> = {}, user = 'u', ip = '198.51.100.1') => {
    const id = `c${++n}`
    const now = Date.now()
    return {
      attempts: [
        { key: `connect:ip:${ip}`, limit: 100 },
        { key: `connect:user:${user}`, limit: 100 },
      ],
      windowMs: 60_000,
      userId: user,
      jti: `j${n}`,
      tokenExpiresAt: now + 60_000,
      session: {
        record: {
          id,
          userId: user,
          instanceId: 'i',
          ip,
          channels: [],
          connectedAt: now,
          lastSeenAt: now,
        },
        caps: {},
      },
      ...over,
    } satisfies AdmitRequest
  }
}
