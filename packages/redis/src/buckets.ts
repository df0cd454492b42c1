/**
 * The key layout's buckets: how a store spreads its keys over Redis Cluster slots. A store's
 * keys sit under `buckets` hash tags, `{<prefix>:<kind>:<bucket>}`, and the bucket of a key is
 * a hash of what it routes by (a jti, a rate-limit key, a stream, a session id, a user) modulo
 * `buckets`. With one bucket the tag is `{<prefix>:<kind>}`: the layout of a standalone Redis,
 * unchanged from before buckets existed.
 *
 * Every instance sharing a store must use the same number of buckets: it is part of the layout.
 *
 * `createRedisStores` with several buckets places some token and rate-limit records beside the
 * sessions instead (a {@link Placement}), so that an admission touches two slots: a token its
 * owner gave is kept in the owner's session bucket, the connect-attempt window of a user in that
 * user's bucket, the window of an IP in the caps slot (see `sharded-admission.ts`). What is not
 * placed stays in the store's own buckets.
 *
 * @module
 */

/** The default number of buckets: one on a standalone Redis, 16 on a Cluster client. */
export const CLUSTER_BUCKETS = 16

/**
 * FNV-1a (32 bits) over the UTF-16 code units of `value`, modulo `buckets`: cheap, stable
 * across processes and versions, and spreads random ids evenly.
 */
export function bucketOf(value: string, buckets: number): number {
  if (buckets === 1) return 0
  let hash = 0x811c9dc5
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % buckets
}

/** The hash tags of one kind of key, by bucket. */
export class Buckets {
  readonly #tags: readonly string[]

  constructor(
    prefix: string,
    kind: string,
    readonly count: number,
  ) {
    this.#tags = Array.from({ length: count }, (_, bucket) =>
      count === 1 ? `{${prefix}:${kind}}` : `{${prefix}:${kind}:${bucket}}`,
    )
  }

  /** The tag of the bucket `value` routes to. */
  tagOf(value: string): string {
    return this.#tags[bucketOf(value, this.count)] as string
  }

  /** The tag of bucket `bucket`. */
  tag(bucket: number): string {
    return this.#tags[bucket] as string
  }

  /** Every tag, in bucket order (what sweeps walk). */
  get all(): readonly string[] {
    return this.#tags
  }

  /** Groups values by bucket: bucket -> the values (in their order) routed to it. */
  group<T>(values: readonly T[], route: (value: T) => string): Map<number, T[]> {
    const groups = new Map<number, T[]>()
    for (const value of values) {
      const bucket = bucketOf(route(value), this.count)
      const group = groups.get(bucket)
      if (group === undefined) groups.set(bucket, [value])
      else group.push(value)
    }
    return groups
  }
}

/** Runs `count` on every key base at once and adds up the answers. */
export async function sumOver(
  bases: readonly string[],
  count: (base: string) => Promise<unknown>,
): Promise<number> {
  const counts = await Promise.all(bases.map(count))
  return counts.reduce<number>((sum, n) => sum + Number(n), 0)
}

/**
 * Where `createRedisStores` puts some records of the token and rate-limit stores of a sharded
 * layout (not a public option): a key base under another store's tag, instead of a bucket of
 * their own.
 */
export interface Placement {
  /** The key base of a record routed by `value` (a token's owner, a rate-limit key), if placed. */
  readonly place: (value: string) => string | undefined
  /** Every base `place` can answer: what sweeps walk, besides the store's own buckets. */
  readonly bases: readonly string[]
}

/** The option `createRedisStores` adds for a {@link Placement}. */
export interface Placed {
  readonly placement?: Placement | undefined
}
