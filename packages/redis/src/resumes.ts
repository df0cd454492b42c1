/**
 * The Redis resume store: resumable sessions (save, update, atomic claim, touch) and the sweep
 * that reports each expired session once.
 *
 * @module
 */
import type { ExpiredSession, ResumableSession, ResumeStore } from '@ws-warden/core/stores'
import { isNonEmptyString, nonEmpty } from '@ws-warden/core/stores'
import { Buckets } from './buckets.js'
import { defineScript, storeOptions, type RedisStoreOptions } from './client.js'
import {
  CLAIM_RESUME,
  REMOVE_RESUME,
  SAVE_RESUME,
  SWEEP_RESUMES,
  TOUCH_RESUMES,
} from './scripts/resumes.js'
import { INDEX_RETENTION_MS } from './tokens.js'

const owner = 'RedisResumeStore'
/** Sessions per touch or sweep script: bounds the time one script holds Redis. */
const BATCH = 1000

/**
 * Resumable sessions in Redis, shared by every instance: one hash per session that expires at its
 * `expiresAt` (`PXAT`), and an index of ids by expiry with each id's user, for `sweep`. Every
 * operation is one Lua script, so a claim compares and deletes atomically (exactly one of
 * concurrent claims, on any instances, gets the session), an update never brings back a session
 * claimed meanwhile, and each expired session is taken out of the index, and reported, by one
 * sweep only, even when Redis already dropped its hash.
 *
 * Keys: `<tag>:session:<id>`, the index `<tag>:expiry` and `<tag>:users`, where the tag is the
 * id's bucket `{<prefix>:resumes:<bucket>}` (`{<prefix>:resumes}` with one bucket): each bucket
 * indexes its own sessions; a touch runs one script per bucket, a sweep walks every bucket. The
 * index and users expire 5 minutes after the bucket's latest session: an expired session is
 * reported if some instance sweeps within that time.
 */
export class RedisResumeStore implements ResumeStore {
  readonly #buckets: Buckets
  readonly #save
  readonly #claim
  readonly #touch
  readonly #remove
  readonly #sweep

  constructor(options: RedisStoreOptions) {
    const { client, prefix, buckets } = storeOptions(owner, options)
    this.#buckets = new Buckets(prefix, 'resumes', buckets)
    this.#save = defineScript(client, 'wsWardenResumeSave', 3, SAVE_RESUME)
    this.#claim = defineScript(client, 'wsWardenResumeClaim', 3, CLAIM_RESUME)
    this.#touch = defineScript(client, 'wsWardenResumeTouch', undefined, TOUCH_RESUMES)
    this.#remove = defineScript(client, 'wsWardenResumeRemove', 3, REMOVE_RESUME)
    this.#sweep = defineScript(client, 'wsWardenResumeSweep', 2, SWEEP_RESUMES)
  }

  async save(session: ResumableSession): Promise<void> {
    await this.#write('save', session, '0')
  }

  async update(session: ResumableSession): Promise<boolean> {
    return (await this.#write('update', session, '1')) === 1
  }

  async claim(id: string, credentialHash: string): Promise<ResumableSession | null> {
    nonEmpty(`${owner}.claim(id)`, id)
    if (typeof credentialHash !== 'string') {
      throw new TypeError(`ws-warden: ${owner}.claim(credentialHash) needs a string`)
    }
    const reply = (await this.#claim(...this.#keys(id), id, credentialHash)) as
      [string, string, string] | null
    if (reply === null) return null
    const [userId, state, expiresAt] = reply
    return { id, userId, credentialHash, state, expiresAt: Number(expiresAt) }
  }

  async touch(ids: readonly string[], expiresAt: number): Promise<void> {
    if (!Array.isArray(ids) || !ids.every((id) => isNonEmptyString(id))) {
      throw new TypeError(`ws-warden: ${owner}.touch(ids) needs an array of non-empty strings`)
    }
    const at = expiry('touch(expiresAt)', expiresAt)
    const batches: Promise<unknown>[] = []
    for (const [bucket, mine] of this.#buckets.group(ids, (id) => id)) {
      const tag = this.#buckets.tag(bucket)
      for (let i = 0; i < mine.length; i += BATCH) {
        const batch = mine.slice(i, i + BATCH)
        const keys = [`${tag}:expiry`, `${tag}:users`, ...batch.map((id) => `${tag}:session:${id}`)]
        const args = [at.exact, at.ms, INDEX_RETENTION_MS, ...batch]
        batches.push(this.#touch(keys.length, ...keys, ...args))
      }
    }
    await Promise.all(batches)
  }

  async remove(id: string): Promise<boolean> {
    nonEmpty(`${owner}.remove(id)`, id)
    return (await this.#remove(...this.#keys(id), id)) === 1
  }

  async sweep(before: number): Promise<ExpiredSession[]> {
    if (typeof before !== 'number' || Number.isNaN(before)) {
      throw new TypeError(`ws-warden: ${owner}.sweep(before) needs a number`)
    }
    const found = await Promise.all(this.#buckets.all.map((tag) => this.#sweepBucket(tag, before)))
    return found.flat()
  }

  async #sweepBucket(tag: string, before: number): Promise<ExpiredSession[]> {
    const expired: ExpiredSession[] = []
    for (;;) {
      const flat = (await this.#sweep(`${tag}:expiry`, `${tag}:users`, before, BATCH)) as string[]
      for (let i = 0; i < flat.length; i += 3) {
        const [id, userId, expiresAt] = flat.slice(i, i + 3) as [string, string, string]
        expired.push({ id, userId, expiresAt: Number(expiresAt) })
      }
      if (flat.length < BATCH * 3) return expired
    }
  }

  #write(method: string, session: ResumableSession, onlyIfLive: '0' | '1') {
    for (const field of ['id', 'userId', 'credentialHash'] as const) {
      nonEmpty(`${owner}.${method} ${field}`, session?.[field])
    }
    if (typeof session.state !== 'string') {
      throw new TypeError(`ws-warden: ${owner}.${method} needs a string state`)
    }
    const { id, userId, credentialHash, state } = session
    const at = expiry(`${method} expiresAt`, session.expiresAt)
    const args = [id, userId, credentialHash, state, at.exact, at.ms, INDEX_RETENTION_MS]
    return this.#save(...this.#keys(id), ...args, onlyIfLive)
  }

  /** The keys of the scripts that act on one session, in their order. */
  #keys(id: string): [string, string, string] {
    const tag = this.#buckets.tagOf(id)
    return [`${tag}:expiry`, `${tag}:users`, `${tag}:session:${id}`]
  }
}

/**
 * An expiry as the scripts take it: exactly as given (stored, and read back by `claim` and
 * `sweep`), and in whole ms for `PEXPIREAT`, within the range Redis accepts.
 */
function expiry(what: string, value: unknown): { exact: string; ms: number } {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`ws-warden: ${owner}.${what} needs a finite epoch time in ms`)
  }
  return { exact: String(value), ms: Math.max(0, Math.min(Math.ceil(value), 2 ** 53 - 1)) }
}
