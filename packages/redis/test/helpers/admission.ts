import type { AdmitRequest } from '@ws-warden/core/stores'
import type { Redis } from 'ioredis'

/** The commands `call` sends on `redis`, by name. */
export async function commandsOf(redis: Redis, call: () => Promise<unknown>): Promise<string[]> {
  const sent: string[] = []
  const send = redis.sendCommand.bind(redis)
  redis.sendCommand = (command, stream) => {
    sent.push(command.name)
    return send(command, stream)
  }
  try {
    await call()
  } finally {
    redis.sendCommand = send
  }
  return sent
}

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
