import t from 'tap'
import { Heartbeat } from '../src/heartbeat.js'
import { FakeTimers } from './helpers/fake.js'

function watch(idleMs = 30_000, timeoutMs = 10_000) {
  const timers = new FakeTimers()
  const record = { pings: 0, dead: 0 }
  const heartbeat = new Heartbeat(
    { idleMs, timeoutMs },
    timers,
    () => record.pings++,
    () => record.dead++,
  )
  heartbeat.start()
  return { timers, heartbeat, record }
}

t.test(
  'pings after idleMs of silence; declares death timeoutMs after an unanswered ping',
  async (t) => {
    const { timers, record } = watch()
    timers.advance(29_999)
    t.same(record, { pings: 0, dead: 0 })
    timers.advance(1) // the tick at 30 s
    t.same(record, { pings: 1, dead: 0 })
    timers.advance(9_999)
    t.same(record, { pings: 1, dead: 0 })
    timers.advance(1) // 10 s after the ping, on a tick
    t.same(record, { pings: 1, dead: 1 })
    t.equal(timers.size, 0, 'no timer left after death')
  },
)

t.test('anything received is proof of life and restarts the idle clock', async (t) => {
  const { timers, heartbeat, record } = watch()
  for (let i = 0; i < 10; i++) {
    timers.advance(20_000)
    heartbeat.received()
  }
  t.same(record, { pings: 0, dead: 0 }, 'traffic every 20 s: no ping needed')
  timers.advance(30_000)
  t.equal(record.pings, 1)
  timers.advance(5_000)
  heartbeat.received() // the pong
  timers.advance(30_000)
  t.same(record, { pings: 2, dead: 0 }, 'answered: alive, and the idle clock starts over')
  heartbeat.received()
  timers.advance(39_999)
  t.same(record, { pings: 3, dead: 0 })
  timers.advance(1)
  t.same(record, { pings: 3, dead: 1 }, 'unanswered: dead 10 s after the ping')
})

t.test(
  'throttled timers (a background tab) are not death when answers keep arriving',
  async (t) => {
    const { timers, heartbeat, record } = watch()
    // Timers fire once a second at best: model ticks that each run ~900 ms late, for 10 minutes.
    // The server answers every ping at once (message delivery is not throttled).
    let pings = 0
    for (let elapsed = 0; elapsed < 600_000; elapsed += 5_900) {
      timers.jump(5_900)
      if (record.pings > pings) {
        pings = record.pings
        heartbeat.received()
      }
    }
    t.equal(record.dead, 0)
    t.ok(record.pings > 10, 'it kept probing')
  },
)

t.test(
  'a tick that fires long after it was due (a suspended process) judges nothing',
  async (t) => {
    const { timers, heartbeat, record } = watch()
    timers.advance(30_000)
    t.equal(record.pings, 1)
    // The laptop sleeps for an hour right after the ping: the first tick on wake must not
    // conclude that the server is dead; it probes again.
    timers.jump(3_600_000)
    t.same(record, { pings: 2, dead: 0 })
    heartbeat.received() // what arrived while asleep is processed now
    timers.advance(25_000)
    t.same(record, { pings: 2, dead: 0 }, 'alive')
    // Asleep again, and this time nothing comes back after waking.
    timers.jump(3_600_000)
    t.same(record.dead, 0, 'the wake tick only probes')
    timers.advance(10_000)
    t.equal(record.dead, 1, 'a punctual tick, 10 s of wall-clock time after the probe, decides')
  },
)

t.test('stop clears the timer; start resets the watch', async (t) => {
  const { timers, heartbeat, record } = watch(1_000, 1_000)
  heartbeat.stop()
  t.equal(timers.size, 0)
  heartbeat.stop()
  heartbeat.start()
  heartbeat.start()
  t.equal(timers.size, 1, 'one timer, however often it starts')
  timers.advance(1_000)
  t.equal(record.pings, 1)
  heartbeat.start()
  timers.advance(999)
  t.equal(record.dead, 0, 'a restart forgets the outstanding ping')
})
