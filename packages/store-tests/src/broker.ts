/**
 * The broker conformance group: payloads cross instances unchanged, to every subscriber of the
 * topic and only to them, and unsubscribing stops delivery.
 *
 * @module
 */
import assert from 'node:assert/strict'
import { group, sleep, unique, waitFor, type ConformanceOptions } from './harness.js'

/** How long to keep listening after the expected deliveries, to catch unexpected ones. */
const quietMs = 50

/** Payloads that must cross the broker unchanged. */
const payloads = [
  '{"type":"message","data":{"text":"hello"}}',
  'héllo wörld — ünïcödé ✓ 日本語 한국어 עברית',
  'emoji 🎉👩‍💻🏳️‍🌈 and astral 𝕏',
  'quotes " \' ` backslash \\ newline \n tab \t nul-free',
  '',
  'x'.repeat(4000) + '✓',
]

/** Publish/subscribe: topics, fan-out, unsubscribe, payload fidelity. */
export function brokerConformance(options: ConformanceOptions): void {
  const test = group(options, 'broker')
  const timeoutMs = options.deliveryTimeoutMs ?? 2000

  test('a subscriber receives payloads on its topic only', async (broker) => {
    const [mine, other] = [unique('topic'), unique('topic')]
    const got: string[] = []
    const witness: string[] = []
    await broker.subscribe(mine, (payload) => got.push(payload))
    await broker.subscribe(other, (payload) => witness.push(payload))
    await broker.publish(other, 'for other')
    await broker.publish(mine, 'for me')
    await waitFor(() => got.length >= 1 && witness.length >= 1, timeoutMs, 'both deliveries')
    await sleep(quietMs)
    assert.deepEqual(got, ['for me'])
    assert.deepEqual(witness, ['for other'])
  })

  test('every subscriber of a topic receives every payload', async (broker) => {
    const topic = unique('topic')
    const inboxes: string[][] = [[], [], []]
    for (const inbox of inboxes) await broker.subscribe(topic, (payload) => inbox.push(payload))
    for (const payload of ['1', '2', '3']) await broker.publish(topic, payload)
    await waitFor(
      () => inboxes.every((inbox) => inbox.length >= 3),
      timeoutMs,
      'three deliveries each',
    )
    await sleep(quietMs)
    for (const inbox of inboxes) assert.deepEqual([...inbox].sort(), ['1', '2', '3'])
  })

  test('unsubscribe stops delivery, and calling it twice is harmless', async (broker) => {
    const topic = unique('topic')
    const gone: string[] = []
    const witness: string[] = []
    const unsubscribe = await broker.subscribe(topic, (payload) => gone.push(payload))
    await broker.subscribe(topic, (payload) => witness.push(payload))
    await broker.publish(topic, 'before')
    await waitFor(() => gone.length >= 1 && witness.length >= 1, timeoutMs, 'the first delivery')
    await unsubscribe()
    await unsubscribe()
    await broker.publish(topic, 'after')
    await waitFor(() => witness.length >= 2, timeoutMs, 'the second delivery')
    await sleep(quietMs)
    assert.deepEqual(gone, ['before'])
    assert.deepEqual([...witness].sort(), ['after', 'before'])
  })

  test('payloads arrive unchanged, unicode included', async (broker) => {
    const topic = unique('topic')
    const got: string[] = []
    await broker.subscribe(topic, (payload) => got.push(payload))
    for (const payload of payloads) await broker.publish(topic, payload)
    await waitFor(() => got.length >= payloads.length, timeoutMs, `${payloads.length} deliveries`)
    await sleep(quietMs)
    assert.deepEqual([...got].sort(), [...payloads].sort())
  })
}
