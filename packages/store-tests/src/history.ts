/**
 * The history store conformance group: sequence numbers, replay and what it reports missing,
 * trimming, expiry and the sweep.
 *
 * @module
 */
import assert from 'node:assert/strict'
import type { HistoryLimits, HistoryStore } from '@ws-warden/core/stores'
import { group, sleep, unique, type ConformanceOptions } from './harness.js'

const roomy: HistoryLimits = { maxLength: 1_000, ttlMs: 60_000 }

async function appendAll(
  history: HistoryStore,
  stream: string,
  frames: string[],
  limits = roomy,
): Promise<number[]> {
  const seqs: number[] = []
  for (const frame of frames) seqs.push(await history.append(stream, frame, limits))
  return seqs
}

function increasing(seqs: number[]): boolean {
  return seqs.every(
    (seq, i) => Number.isSafeInteger(seq) && seq > 0 && (i === 0 || seq > (seqs[i - 1] as number)),
  )
}

/** Per-stream history for resumption: `append`, `read`, `head` and `sweep`. */
export function historyConformance(options: ConformanceOptions): void {
  const test = group(options, 'history')

  test('append returns increasing seqs; read(0) gives every entry in order, complete', async (history) => {
    const stream = unique('channel:a')
    const seqs = await appendAll(history, stream, [
      '{"type":"m","n":1}',
      '{"type":"m","n":2}',
      '{"type":"m","n":3}',
    ])
    assert.ok(increasing(seqs), `increasing positive integers: ${seqs.join(', ')}`)
    const read = await history.read(stream, 0)
    assert.deepEqual(read, {
      entries: [
        { seq: seqs[0], frame: '{"type":"m","n":1}' },
        { seq: seqs[1], frame: '{"type":"m","n":2}' },
        { seq: seqs[2], frame: '{"type":"m","n":3}' },
      ],
      complete: true,
    })
  })

  test('read(afterSeq) gives only what came after; at the head, nothing and complete', async (history) => {
    const stream = unique('user:u')
    const seqs = await appendAll(history, stream, ['{"n":1}', '{"n":2}', '{"n":3}'])
    const after = await history.read(stream, seqs[0] as number)
    assert.deepEqual(
      after.entries.map((entry) => entry.seq),
      seqs.slice(1),
    )
    assert.equal(after.complete, true)
    assert.deepEqual(await history.read(stream, seqs[2] as number), { entries: [], complete: true })
  })

  test('except lists are kept with their entry', async (history) => {
    const stream = unique('all')
    const seq = await history.append(stream, '{"n":1}', roomy, ['conn-1', 'session-1'])
    const plain = await history.append(stream, '{"n":2}', roomy, [])
    assert.deepEqual((await history.read(stream, 0)).entries, [
      { seq, frame: '{"n":1}', except: ['conn-1', 'session-1'] },
      { seq: plain, frame: '{"n":2}' },
    ])
  })

  test('head: at least every seq handed out, below every later one', async (history) => {
    const stream = unique('channel:h')
    const before = await history.head(stream)
    assert.ok(Number.isSafeInteger(before) && before >= 0, 'an unknown stream has a head too')
    const seq = await history.append(stream, '{"n":1}', roomy)
    assert.ok(seq > before)
    assert.equal(await history.head(stream), seq)
    assert.ok((await history.append(stream, '{"n":2}', roomy)) > seq)
    assert.deepEqual(
      await history.read(stream, before),
      {
        entries: (await history.read(stream, 0)).entries,
        complete: true,
      },
      'reading from an earlier head is complete',
    )
  })

  test('maxLength drops the oldest; reading from before them is incomplete', async (history) => {
    const stream = unique('channel:t')
    const seqs = await appendAll(history, stream, ['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}'], {
      maxLength: 2,
      ttlMs: 60_000,
    })
    const all = await history.read(stream, 0)
    assert.deepEqual(
      all.entries.map((entry) => entry.seq),
      seqs.slice(2),
    )
    assert.equal(all.complete, false, 'entries 1 and 2 were dropped')
    assert.equal((await history.read(stream, seqs[0] as number)).complete, false)
    assert.equal(
      (await history.read(stream, seqs[1] as number)).complete,
      true,
      'nothing after 2 was lost',
    )
  })

  test('entries expire after ttlMs; seqs still never go back', async (history) => {
    const stream = unique('channel:e')
    const limits = { maxLength: 100, ttlMs: 150 }
    const seqs = await appendAll(history, stream, ['{"n":1}', '{"n":2}'], limits)
    await sleep(400)
    const read = await history.read(stream, 0)
    assert.deepEqual(read.entries, [], 'expired entries are not read')
    assert.equal(read.complete, false)
    assert.ok((await history.head(stream)) >= (seqs[1] as number), 'the head does not go back')
    const next = await history.append(stream, '{"n":3}', limits)
    assert.ok(next > (seqs[1] as number), 'a seq is never reused after expiry')
    assert.deepEqual(await history.read(stream, seqs[1] as number), {
      entries: [{ seq: next, frame: '{"n":3}' }],
      complete: true,
    })
  })

  test('50 concurrent appends to one stream: distinct seqs, read back in seq order', async (history) => {
    const stream = unique('channel:c')
    const seqs = await Promise.all(
      Array.from({ length: 50 }, (_, n) => history.append(stream, `{"n":${n}}`, roomy)),
    )
    assert.equal(new Set(seqs).size, 50)
    const { entries, complete } = await history.read(stream, 0)
    assert.equal(complete, true)
    assert.deepEqual(
      entries.map((entry) => entry.seq),
      [...seqs].sort((a, b) => a - b),
    )
    for (const entry of entries) {
      assert.equal(entry.frame, `{"n":${seqs.indexOf(entry.seq)}}`, 'each frame under its own seq')
    }
  })

  test('streams are independent', async (history) => {
    const a = unique('channel:x')
    const b = unique('channel:y')
    await history.append(a, '{"s":"a"}', roomy)
    await history.append(b, '{"s":"b"}', roomy)
    assert.deepEqual(
      (await history.read(a, 0)).entries.map((entry) => entry.frame),
      ['{"s":"a"}'],
    )
    assert.deepEqual(
      (await history.read(b, 0)).entries.map((entry) => entry.frame),
      ['{"s":"b"}'],
    )
  })

  test('sweep removes expired entries and counts them, never live ones', async (history) => {
    const short = unique('channel:s')
    const long = unique('channel:l')
    await appendAll(history, short, ['{"n":1}', '{"n":2}', '{"n":3}'], {
      maxLength: 100,
      ttlMs: 150,
    })
    await history.append(long, '{"n":1}', roomy)
    await sleep(400)
    assert.equal(await history.sweep(Date.now() - 60_000), 0, 'nothing expired that long ago')
    assert.equal(await history.sweep(Date.now()), 3)
    assert.equal(
      await history.sweep(Date.now() + 3_600_000),
      0,
      'live entries stay, whatever `before` says',
    )
    assert.equal((await history.read(long, 0)).entries.length, 1)
  })
}
