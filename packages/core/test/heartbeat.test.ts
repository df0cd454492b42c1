import t from 'tap'
import type { HeartbeatTarget } from '../src/heartbeat.js'
import { Heartbeat } from '../src/heartbeat.js'
import { until } from './helpers/server.js'

const INTERVAL_MS = 20
const TIMEOUT_MS = 10

/** A target that records each phase with the time it was given; time is a counter. */
function recorder(onPing: () => void = () => {}) {
  const events: string[] = []
  let ticks = 0
  const now = () => ++ticks
  const target: HeartbeatTarget = {
    ping: (at) => {
      events.push(`ping@${at}`)
      onPing()
    },
    check: (at) => events.push(`check@${at}`),
  }
  return { events, now, target }
}

/**
 * Waits longer than any phase the heartbeat could have scheduled before this call: timers fire in
 * order of expiry, so a pending phase would run first.
 */
const afterPendingPhases = () => new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 3))

t.test('pings, then checks, in turn, with the time of each phase', async (t) => {
  const { events, now, target } = recorder()
  const heartbeat = new Heartbeat(INTERVAL_MS, TIMEOUT_MS, target, now)
  t.teardown(() => heartbeat.stop())
  await afterPendingPhases()
  t.same(events, [], 'nothing before start()')
  heartbeat.start()
  await until(() => events.length >= 4)
  t.same(events.slice(0, 4), ['ping@1', 'check@2', 'ping@3', 'check@4'])
})

t.test('start() while running does not start a second cycle', async (t) => {
  const { events, now, target } = recorder()
  const heartbeat = new Heartbeat(INTERVAL_MS, TIMEOUT_MS, target, now)
  t.teardown(() => heartbeat.stop())
  heartbeat.start()
  heartbeat.start()
  await until(() => events.length >= 4)
  t.same(
    events.slice(0, 4).map((event) => event.split('@')[0]),
    ['ping', 'check', 'ping', 'check'],
  )
})

t.test('stop() cancels the pending phase; start() begins a new cycle', async (t) => {
  const { events, now, target } = recorder()
  const heartbeat = new Heartbeat(INTERVAL_MS, TIMEOUT_MS, target, now)
  t.teardown(() => heartbeat.stop())
  heartbeat.start()
  await until(() => events.length === 1)
  heartbeat.stop()
  await afterPendingPhases()
  t.same(events, ['ping@1'], 'the check never ran')
  heartbeat.start()
  await until(() => events.length >= 3)
  t.same(events.slice(0, 3), ['ping@1', 'ping@2', 'check@3'])
})

t.test('stop() from inside a phase ends the cycle there', async (t) => {
  const { events, now, target } = recorder(() => heartbeat.stop())
  const heartbeat = new Heartbeat(INTERVAL_MS, TIMEOUT_MS, target, now)
  t.teardown(() => heartbeat.stop())
  heartbeat.start()
  await until(() => events.length === 1)
  await afterPendingPhases()
  t.same(events, ['ping@1'], 'no check was scheduled after the stop')
})

t.test('a check held up by a stalled process waits for the I/O it held up', async (t) => {
  const events: string[] = []
  const target: HeartbeatTarget = {
    ping: () => {
      events.push('ping')
      // After the check is scheduled, block the process for several timeouts; what the loop
      // does next (here a setImmediate, in a server the pong reads) must come before the check.
      setImmediate(() => {
        const end = performance.now() + TIMEOUT_MS * 5
        while (performance.now() < end) {
          // stalled
        }
        setImmediate(() => events.push('pong'))
      })
    },
    check: () => {
      events.push('check')
      heartbeat.stop()
    },
  }
  const heartbeat = new Heartbeat(INTERVAL_MS, TIMEOUT_MS, target, () => 0)
  t.teardown(() => heartbeat.stop())
  heartbeat.start()
  await until(() => events.includes('check'))
  t.same(events, ['ping', 'pong', 'check'])
})

t.test('a pong read in the loop turn of the deadline counts', async (t) => {
  const events: string[] = []
  const target: HeartbeatTarget = {
    ping: () => {
      events.push('ping')
      // Due with the check and created before it: runs first in the same timers phase, and its
      // pong lands in that turn's I/O, after the timers.
      setTimeout(() => setImmediate(() => events.push('pong')), TIMEOUT_MS)
    },
    check: () => {
      events.push('check')
      heartbeat.stop()
    },
  }
  const heartbeat = new Heartbeat(INTERVAL_MS, TIMEOUT_MS, target, () => 0)
  t.teardown(() => heartbeat.stop())
  heartbeat.start()
  await until(() => events.includes('check'))
  t.same(events, ['ping', 'pong', 'check'])
})

t.test('stop() between the check timer and its verdict cancels the verdict', async (t) => {
  const events: string[] = []
  const target: HeartbeatTarget = {
    ping: () => void events.push('ping'),
    check: () => events.push('check'),
  }
  const heartbeat = new Heartbeat(INTERVAL_MS, TIMEOUT_MS, target, () => 0)
  // The verdict is the setImmediate of checkPhase: a stop() queued just before it runs after
  // the check timer queued the verdict and before the verdict, whenever the check fires (a late
  // check postpones once, and its verdict comes a phase later).
  const setImmediateBefore = globalThis.setImmediate
  t.teardown(() => {
    globalThis.setImmediate = setImmediateBefore
    heartbeat.stop()
  })
  globalThis.setImmediate = ((callback: () => void) => {
    // Anyone else's setImmediate (the test runner's) passes through.
    if (!new Error().stack?.includes('checkPhase')) return setImmediateBefore(callback)
    globalThis.setImmediate = setImmediateBefore
    setImmediateBefore(() => heartbeat.stop())
    return setImmediateBefore(callback)
  }) as typeof setImmediate
  heartbeat.start()
  await until(() => globalThis.setImmediate === setImmediateBefore)
  await afterPendingPhases()
  t.same(events, ['ping'])
})
