/**
 * Where the session registry keeps what, and how: the key names of a bucket and of the caps
 * slot in the order the scripts take them, the caps slot's hash tag, a record's encoding (the
 * add script's arguments) and decoding (a read script's reply), and the directory's entries
 * `<bucket>:<ip>` (their bucket, ids grouped by bucket).
 *
 * @module
 */
import type { ConnectionCaps, SessionRecord } from '@ws-warden/core/stores'

/** The key names, in the order every session script takes them (see `scripts/sessions.ts`). */
export const KEY_NAMES = [
  'records',
  'seen',
  'by-user',
  'by-ip',
  'by-channel',
  'users',
  'ips',
  'channels',
]
/** The caps keys of a sharded registry, in the order every caps script takes them. */
export const CAPS_NAMES = ['ids', 'ips', 'seen']

/**
 * The hash tag of a sharded registry's caps keys (and, in `createRedisStores`, the IPs' windows).
 */
export function capsTag(prefix: string): string {
  return `{${prefix}:sessions:caps}`
}

/**
 * The arguments of the add script (`addSession` in `scripts/sessions.ts`): id, the record without
 * id and lastSeenAt as the scripts store it (a JSON array of strings: userId, ip, instanceId,
 * connectedAt, then the channels, deduplicated), lastSeenAt, the caps ('' = none), ttl.
 */
export function addArgs(
  record: SessionRecord,
  caps: ConnectionCaps,
  ttl: number,
): [string, string, number, number | '', number | '', number | '', number] {
  return [...recordArgs(record, caps), ttl]
}

/** {@link addArgs} but the ttl: what one admission of a call that shares the ttl passes. */
export function recordArgs(
  record: SessionRecord,
  caps: ConnectionCaps,
): [string, string, number, number | '', number | '', number | ''] {
  const { id, userId, ip, instanceId, channels } = record
  const fields = [userId, ip, instanceId, String(record.connectedAt)]
  if (channels.length > 0) fields.push(...new Set(channels))
  const stored = JSON.stringify(fields)
  return [id, stored, record.lastSeenAt, caps.perUser ?? '', caps.perIp ?? '', caps.total ?? '']
}

/**
 * The records of a read script's reply: a flat list of id, record (as {@link addArgs} stores it),
 * lastSeenAt for each.
 */
export function decodeRecords(flat: readonly string[]): SessionRecord[] {
  const records: SessionRecord[] = []
  for (let i = 0; i < flat.length; i += 3) {
    const fields = JSON.parse(flat[i + 1] as string) as string[]
    const [userId, ip, instanceId, connectedAt, ...channels] = fields
    records.push(
      Object.freeze({
        userId: userId as string,
        instanceId: instanceId as string,
        ip: ip as string,
        channels: Object.freeze(channels),
        connectedAt: Number(connectedAt),
        id: flat[i] as string,
        lastSeenAt: Number(flat[i + 2]),
      }),
    )
  }
  return records
}

/** Ids grouped by bucket; ids without one (undefined) are left out. */
export function byBucket(
  located: Iterable<readonly [string, number | undefined]>,
): Map<number, string[]> {
  const groups = new Map<number, string[]>()
  for (const [id, bucket] of located) {
    if (bucket === undefined) continue
    const group = groups.get(bucket)
    if (group === undefined) groups.set(bucket, [id])
    else group.push(id)
  }
  return groups
}

/** The bucket of a directory entry `<bucket>:<ip>`; undefined for none. */
export function entryBucket(entry: string | null): number | undefined {
  return entry === null ? undefined : Number(entry.slice(0, entry.indexOf(':')))
}
