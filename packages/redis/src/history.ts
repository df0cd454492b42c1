/**
 * The Redis history store: per-stream sequence numbers and bounded, expiring lists of entries for
 * resumption, read back with what was dropped, and the sweep of expired entries.
 *
 * @module
 */
import type { HistoryEntry, HistoryLimits, HistoryRead, HistoryStore } from '@ws-warden/core/stores'
import { nonEmpty, positiveInteger } from '@ws-warden/core/stores'
import { Buckets } from './buckets.js'
import { defineScript, storeOptions } from './client.js'
import type { RedisStoreOptions } from './client.js'
import {
  APPEND_HISTORY,
  DUE_HISTORY,
  HEAD_HISTORY,
  PRUNE_HISTORY,
  READ_HISTORY,
} from './scripts/history.js'
import { INDEX_RETENTION_MS } from './tokens.js'

const owner = 'RedisHistoryStore'
/** Streams per sweep round: bounds the size of one reply and of one burst of prune scripts. */
const BATCH = 500

/**
 * Per-stream history in Redis, shared by every instance: each stream is a list of its entries
 * (oldest first) and a counter, and every append is one Lua script (next seq, `RPUSH`, `LTRIM` to
 * `maxLength`, the expired head dropped), so seqs are strictly increasing across instances and
 * appends become visible in seq order.
 *
 * - A seq is the stream's last one plus 1, or the server's clock in microseconds if that is higher
 *   (about 1.7e15, a safe integer until the year 2255): seqs never go back, even when the counter
 *   does (a failover to a replica that missed the last writes, eviction, a Redis that lost its
 *   data). See `APPEND_HISTORY`.
 * - The counter has no TTL: it is the one key a stream keeps for good (about 100 bytes).
 * - Each entry carries the seq before it, so `read` knows what was dropped before the oldest
 *   entry still held (trimmed, expired, or the whole list gone) without a marker to maintain.
 * - The list expires by itself 5 minutes after its newest entry; an index of streams by their
 *   oldest entry's expiry lets `sweep` visit only the streams with something to remove.
 *
 * Keys: `<tag>:seq:<stream>`, `<tag>:log:<stream>` and the index `<tag>:expiry`, where the tag
 * is the stream's bucket `{<prefix>:history:<bucket>}` (`{<prefix>:history}` with one bucket):
 * each bucket indexes its own streams, and a sweep walks every bucket.
 */
export class RedisHistoryStore implements HistoryStore {
  readonly #buckets: Buckets
  readonly #append
  readonly #read
  readonly #head
  readonly #due
  readonly #prune

  constructor(options: RedisStoreOptions) {
    const { client, prefix, buckets } = storeOptions(owner, options)
    this.#buckets = new Buckets(prefix, 'history', buckets)
    this.#append = defineScript(client, 'wsWardenHistoryAppend', 3, APPEND_HISTORY)
    this.#read = defineScript(client, 'wsWardenHistoryRead', 2, READ_HISTORY)
    this.#head = defineScript(client, 'wsWardenHistoryHead', 2, HEAD_HISTORY)
    this.#due = defineScript(client, 'wsWardenHistoryDue', 1, DUE_HISTORY)
    this.#prune = defineScript(client, 'wsWardenHistoryPrune', 2, PRUNE_HISTORY)
  }

  async append(
    stream: string,
    frame: string,
    limits: HistoryLimits,
    except?: readonly string[],
  ): Promise<number> {
    nonEmpty(`${owner}.append(stream)`, stream)
    if (typeof frame !== 'string') {
      throw new TypeError(`ws-warden: ${owner}.append(frame) needs a string`)
    }
    const maxLength = positiveInteger(`${owner}.append limits.maxLength`, limits?.maxLength)
    const ttlMs = positiveInteger(`${owner}.append limits.ttlMs`, limits?.ttlMs)
    // The body: the except list's JSON (never a raw newline in it), a newline, the frame.
    const exceptions = except !== undefined && except.length > 0 ? JSON.stringify(except) : ''
    const body = `${exceptions}\n${frame}`
    const tag = this.#buckets.tagOf(stream)
    const keys = [this.#key('seq', stream), this.#key('log', stream), `${tag}:expiry`]
    return Number(await this.#append(...keys, stream, body, maxLength, ttlMs, INDEX_RETENTION_MS))
  }

  async read(stream: string, afterSeq: number): Promise<HistoryRead> {
    nonEmpty(`${owner}.read(stream)`, stream)
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
      throw new TypeError(`ws-warden: ${owner}.read(afterSeq) needs a non-negative integer`)
    }
    const keys = [this.#key('seq', stream), this.#key('log', stream)]
    const [complete, ...raw] = (await this.#read(...keys, afterSeq)) as [number, ...string[]]
    return { entries: raw.map(parseEntry), complete: complete === 1 }
  }

  async head(stream: string): Promise<number> {
    nonEmpty(`${owner}.head(stream)`, stream)
    return Number(await this.#head(this.#key('seq', stream), this.#key('log', stream)))
  }

  async sweep(before: number): Promise<number> {
    if (typeof before !== 'number' || Number.isNaN(before)) {
      throw new TypeError(`ws-warden: ${owner}.sweep(before) needs a number`)
    }
    const counts = await Promise.all(this.#buckets.all.map((tag) => this.#sweepBucket(tag, before)))
    return counts.reduce((sum, count) => sum + count, 0)
  }

  async #sweepBucket(tag: string, before: number): Promise<number> {
    const index = `${tag}:expiry`
    let removed = 0
    for (;;) {
      const due = (await this.#due(index, before, BATCH)) as string[]
      const counts = await Promise.all(
        due.map((stream) => this.#prune(this.#key('log', stream), index, stream, before)),
      )
      for (const count of counts) removed += count as number
      if (due.length < BATCH) return removed
    }
  }

  #key(kind: 'seq' | 'log', stream: string): string {
    return `${this.#buckets.tagOf(stream)}:${kind}:${stream}`
  }
}

/** `<seq>:<prev>:<expiresAt>:<except JSON>\n<frame>` as an entry. */
function parseEntry(raw: string): HistoryEntry {
  const seqEnd = raw.indexOf(':')
  const bodyStart = raw.indexOf(':', raw.indexOf(':', seqEnd + 1) + 1) + 1
  const newline = raw.indexOf('\n', bodyStart)
  const seq = Number(raw.slice(0, seqEnd))
  const frame = raw.slice(newline + 1)
  if (newline === bodyStart) return { seq, frame }
  return { seq, frame, except: JSON.parse(raw.slice(bodyStart, newline)) as string[] }
}
