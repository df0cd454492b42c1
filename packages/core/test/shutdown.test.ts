import t from 'tap'
import type { DrainOptions } from '../src/drain.js'
import { drain } from '../src/drain.js'

interface Peer {
  readonly name: string
  ended: boolean
}

/** Peers and a drain log; `onClose` and `onTerminate` decide whether a peer then ends. */
function setup(
  count: number,
  behaviour: { endOnClose: boolean; endOnTerminate: boolean },
  timing: { drainMs: number; timeoutMs: number },
) {
  const peers: Peer[] = Array.from({ length: count }, (_, i) => ({ name: `p${i}`, ended: false }))
  const log: string[] = []
  const options: DrainOptions<Peer> = {
    ...timing,
    close: (peer) => {
      log.push(`close ${peer.name}`)
      if (behaviour.endOnClose) peer.ended = true
    },
    terminate: (peer) => {
      log.push(`terminate ${peer.name}`)
      if (behaviour.endOnTerminate) peer.ended = true
    },
    isEnded: (peer) => peer.ended,
  }
  return { peers, log, options }
}

t.test('nothing to drain', async (t) => {
  const { log, options } = setup(
    0,
    { endOnClose: true, endOnTerminate: true },
    { drainMs: 0, timeoutMs: 100 },
  )
  t.same(await drain([], options), { closed: 0, terminated: 0 })
  t.same(log, [])
})

t.test('drainMs 0 closes everyone at once', async (t) => {
  const { peers, log, options } = setup(
    5,
    { endOnClose: true, endOnTerminate: true },
    { drainMs: 0, timeoutMs: 1_000 },
  )
  const result = drain(peers, options)
  t.equal(log.length, 5, 'every close was issued before drain first yielded')
  t.same(await result, { closed: 5, terminated: 0 })
})

t.test('closes are spread over the drain window, in order', async (t) => {
  const { peers, log, options } = setup(
    10,
    { endOnClose: true, endOnTerminate: true },
    { drainMs: 200, timeoutMs: 5_000 },
  )
  const result = drain(peers, options)
  t.ok(log.length < peers.length, `only the first batch at once (${log.length})`)
  t.same(await result, { closed: 10, terminated: 0 })
  t.same(
    log,
    peers.map((peer) => `close ${peer.name}`),
  )
})

t.test('after the timeout, whoever has not closed is terminated', async (t) => {
  const { peers, log, options } = setup(
    3,
    { endOnClose: false, endOnTerminate: true },
    { drainMs: 0, timeoutMs: 60 },
  )
  t.same(await drain(peers, options), { closed: 0, terminated: 3 })
  t.same(log, ['close p0', 'close p1', 'close p2', 'terminate p0', 'terminate p1', 'terminate p2'])
})

t.test(
  'the drain window is capped at half the timeout, so everyone gets a close first',
  async (t) => {
    const { peers, log, options } = setup(
      4,
      { endOnClose: false, endOnTerminate: true },
      { drainMs: 60_000, timeoutMs: 100 },
    )
    t.same(await drain(peers, options), { closed: 0, terminated: 4 })
    t.same(log.slice(0, 4), ['close p0', 'close p1', 'close p2', 'close p3'])
  },
)

t.test('a peer that ignores even terminate does not hold the drain forever', async (t) => {
  const { peers, options } = setup(
    2,
    { endOnClose: false, endOnTerminate: false },
    { drainMs: 0, timeoutMs: 40 },
  )
  t.same(await drain(peers, options), { closed: 0, terminated: 2 })
})

t.test(
  'time is read from the clock given: a jump past the timeout terminates at once',
  async (t) => {
    const { peers, log, options } = setup(
      3,
      { endOnClose: false, endOnTerminate: true },
      { drainMs: 30_000, timeoutMs: 60_000 },
    )
    let now = 1_000
    const reads: number[] = []
    const clock = () => {
      reads.push(now)
      return now
    }
    const draining = drain(peers, { ...options, now: clock })
    // The first tick closed the first peer only (the window is 30 s long).
    t.same(log, ['close p0'])
    now += 60_000
    t.same(await draining, { closed: 0, terminated: 3 })
    t.same(log, [
      'close p0',
      'close p1',
      'close p2',
      'terminate p0',
      'terminate p1',
      'terminate p2',
    ])
    t.ok(reads.length > 0, 'the clock was read')
  },
)

t.test('a clock that stands still cannot hold the drain open', async (t) => {
  const { peers, log, options } = setup(
    2,
    { endOnClose: false, endOnTerminate: false },
    { drainMs: 20, timeoutMs: 40 },
  )
  t.same(await drain(peers, { ...options, now: () => 5 }), { closed: 0, terminated: 2 })
  t.same(log, ['close p0', 'close p1', 'terminate p0', 'terminate p1'])
})
