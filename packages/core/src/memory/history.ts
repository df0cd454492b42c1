/**
 * The in-process history store: each stream's recent fan-out frames with their seqs, for replay.
 *
 * @module
 */
import type { HistoryEntry, HistoryLimits, HistoryRead, HistoryStore } from '../store-contracts.js'
import type { Clock } from '../types.js'
import { clockOption, countOption, nonEmpty, positiveInteger } from '../validate.js'

const owner = 'MemoryHistoryStore'

/** Options of {@link MemoryHistoryStore}. */
export interface MemoryHistoryStoreOptions {
  /**
   * How many streams the store tracks. Past it, the stream appended to least recently is
   * forgotten (with its entries); a session that resumes it later is told its replay is
   * incomplete.
   * @default 100000
   */
  readonly maxStreams?: number | undefined
  /** Where time comes from. @default Date */
  readonly clock?: Clock | undefined
}

interface StoredEntry extends HistoryEntry {
  readonly expiresAt: number
}

interface Stream {
  /** Oldest first. */
  entries: StoredEntry[]
  /** The highest seq dropped from this stream (trimmed or expired); 0 if none. */
  lost: number
  /** The last seq appended. */
  last: number
}

/**
 * The in-process {@link HistoryStore}. Sequence numbers come from one counter for the whole store,
 * so they never repeat, in any stream, for the life of the process: a stream that is forgotten
 * and later appended to again continues above everything it had. A stream's record (its last and
 * its highest lost seq) outlives its entries, until `maxStreams` pushes it out.
 */
export class MemoryHistoryStore implements HistoryStore {
  readonly #max: number
  readonly #clock: Clock
  /** By stream, least recently appended first. */
  readonly #streams = new Map<string, Stream>()
  #seq = 0
  /** The highest seq of every stream forgotten to make room: anything at or below may be lost. */
  #forgottenUpTo = 0

  constructor(options: MemoryHistoryStoreOptions = {}) {
    this.#max = countOption(owner, 'maxStreams', options.maxStreams, 100_000)
    this.#clock = clockOption(owner, options.clock)
  }

  async append(
    stream: string,
    frame: string,
    limits: HistoryLimits,
    except?: readonly string[],
  ): Promise<number> {
    nonEmpty(`${owner}.append(stream)`, stream)
    if (typeof frame !== 'string')
      throw new TypeError(`ws-warden: ${owner}.append(frame) needs a string`)
    const maxLength = positiveInteger(`${owner}.append limits.maxLength`, limits?.maxLength)
    const ttlMs = positiveInteger(`${owner}.append limits.ttlMs`, limits?.ttlMs)
    const now = this.#clock.now()
    let record = this.#streams.get(stream)
    if (record === undefined) {
      record = { entries: [], lost: this.#forgottenUpTo, last: this.#forgottenUpTo }
    } else {
      this.#streams.delete(stream) // re-inserted below: most recently appended
    }
    this.#streams.set(stream, record)
    const seq = ++this.#seq
    const entry: StoredEntry =
      except === undefined || except.length === 0
        ? { seq, frame, expiresAt: now + ttlMs }
        : { seq, frame, except: Object.freeze([...except]), expiresAt: now + ttlMs }
    record.entries.push(entry)
    record.last = seq
    prune(record, expiredAt(now))
    if (record.entries.length > maxLength) {
      const dropped = record.entries.splice(0, record.entries.length - maxLength)
      record.lost = (dropped.at(-1) as StoredEntry).seq
    }
    if (this.#streams.size > this.#max) this.#forget()
    return seq
  }

  async read(stream: string, afterSeq: number): Promise<HistoryRead> {
    nonEmpty(`${owner}.read(stream)`, stream)
    if (typeof afterSeq !== 'number' || !Number.isSafeInteger(afterSeq) || afterSeq < 0) {
      throw new TypeError(`ws-warden: ${owner}.read(afterSeq) needs a non-negative integer`)
    }
    const record = this.#streams.get(stream)
    if (record === undefined) return { entries: [], complete: afterSeq >= this.#forgottenUpTo }
    prune(record, expiredAt(this.#clock.now()))
    const entries: HistoryEntry[] = []
    for (const { seq, frame, except } of record.entries) {
      if (seq > afterSeq)
        entries.push(except === undefined ? { seq, frame } : { seq, frame, except })
    }
    return { entries, complete: afterSeq >= record.lost }
  }

  async head(stream: string): Promise<number> {
    nonEmpty(`${owner}.head(stream)`, stream)
    return this.#streams.get(stream)?.last ?? this.#forgottenUpTo
  }

  async sweep(before: number): Promise<number> {
    const now = this.#clock.now()
    let removed = 0
    for (const record of this.#streams.values()) {
      removed += prune(record, (expiresAt) => expiresAt < before && expiresAt <= now)
    }
    return removed
  }

  /** Forgets every stream. Sequence numbers keep increasing. */
  async close(): Promise<void> {
    for (const record of this.#streams.values())
      this.#forgottenUpTo = Math.max(this.#forgottenUpTo, record.last)
    this.#streams.clear()
  }

  #forget(): void {
    const [stream, record] = this.#streams.entries().next().value as [string, Stream]
    this.#streams.delete(stream)
    this.#forgottenUpTo = Math.max(this.#forgottenUpTo, record.last)
  }
}

const expiredAt =
  (now: number) =>
  (expiresAt: number): boolean =>
    expiresAt <= now

/**
 * Drops the oldest entries while `expired` says so (entries expire in append order); returns how
 * many.
 */
function prune(record: Stream, expired: (expiresAt: number) => boolean): number {
  let count = 0
  while (
    count < record.entries.length &&
    expired((record.entries[count] as StoredEntry).expiresAt)
  ) {
    count++
  }
  if (count === 0) return 0
  const dropped = record.entries.splice(0, count)
  record.lost = Math.max(record.lost, (dropped.at(-1) as StoredEntry).seq)
  return count
}
