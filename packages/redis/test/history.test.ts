import t, { type Test } from 'tap'
import { RedisHistoryStore } from '../src/index.js'
import { deleteKeys, randomPrefix, sharedRedis, until } from './helpers/redis.js'

// What the conformance suite cannot see: the history store's keys going away on their own (TTL,
// eviction, a Redis that lost its data) and the rounds of a sweep.

const redis = await sharedRedis(t)

if (redis !== undefined) {
  const client = redis
  const roomy = { maxLength: 1000, ttlMs: 60_000 }
  const brief = { maxLength: 1000, ttlMs: 1 }
  /** For entries that must expire together: appended in one pipeline, long before it runs out. */
  const short = { maxLength: 1000, ttlMs: 500 }
  const setup = (t: Test) => {
    const prefix = randomPrefix()
    t.teardown(async () => void (await deleteKeys(client, prefix)))
    const tag = `{${prefix}:history}`
    const history = new RedisHistoryStore({ client, prefix })
    return { prefix, history, log: `${tag}:log:s`, seq: `${tag}:seq:s`, index: `${tag}:expiry` }
  }
  /** Waits until the server's clock has passed every expiry of the entries appended so far. */
  const expired = async (history: RedisHistoryStore, stream: string) =>
    until(async () => (await history.read(stream, 0)).entries.length === 0, 'the entries to expire')

  t.test('seqs never go back: entries expired, list gone, counter lost', async (t) => {
    const { history, log, seq, index } = setup(t)
    const first = await Promise.all([
      history.append('s', '{"n":1}', short),
      history.append('s', '{"n":2}', short),
    ])
    await expired(history, 's')
    t.same(await history.read('s', 0), { entries: [], complete: false })
    t.equal(await history.head('s'), first[1], 'the head stays')
    t.equal(await history.sweep(Date.now() + 60_000), 2)
    t.same(
      [await client.exists(log), await client.zcard(index), await client.exists(seq)],
      [0, 0, 1],
      'swept: the list and its index entry are gone, the counter stays',
    )
    const next = await history.append('s', '{"n":3}', roomy)
    t.ok(next > (first[1] as number), 'the counter goes on')
    t.same(await history.read('s', first[1] as number), {
      entries: [{ seq: next, frame: '{"n":3}' }],
      complete: true,
    })
    t.equal((await history.read('s', first[0] as number)).complete, false, 'n:2 was dropped')

    await client.del(log) // as its TTL would
    t.same(await history.read('s', first[1] as number), { entries: [], complete: false })
    t.same(await history.read('s', next), { entries: [], complete: true })

    const kept = await history.append('s', '{"n":4}', roomy)
    await client.del(seq) // evicted (allkeys-* eviction): the list is still there
    t.equal(await history.head('s'), kept, 'the head is the newest entry still held')
    const afterEviction = await history.append('s', '{"n":5}', roomy)
    t.ok(afterEviction > kept, 'above the list it found')
    t.same(await history.read('s', next), {
      entries: [
        { seq: kept, frame: '{"n":4}' },
        { seq: afterEviction, frame: '{"n":5}' },
      ],
      complete: true,
    })

    await client.set(seq, String(kept - 1)) // a failover to a replica that missed the last writes
    const afterFailover = await history.append('s', '{"n":5b}', { maxLength: 1, ttlMs: 60_000 })
    t.ok(afterFailover > afterEviction, 'a counter that went back does not take seqs back')
    t.same(await history.read('s', afterEviction), {
      entries: [{ seq: afterFailover, frame: '{"n":5b}' }],
      complete: true,
    })
    t.equal((await history.read('s', kept)).complete, false, 'n:5 was trimmed, and it shows')

    await client.del(seq, log, index) // a Redis that lost its data
    const { time } = await serverMicros()
    const restarted = await history.append('s', '{"n":6}', roomy)
    t.same(await history.read('s', 0), {
      entries: [{ seq: restarted, frame: '{"n":6}' }],
      complete: true,
    })
    t.ok(restarted > afterFailover, 'a lost counter starts again above every seq it gave')
    t.ok(restarted >= time, 'at the server clock in microseconds')
    t.ok(Number.isSafeInteger(restarted))
    t.equal(await history.head('s'), restarted)
  })

  t.test(
    'append drops the expired head, trims, and keeps the index on the oldest entry',
    async (t) => {
      const { history, log, index } = setup(t)
      const old = await history.append('s', '{"n":1}', brief)
      await expired(history, 's')
      const live = await history.append('s', '{"n":2}', roomy)
      t.equal(await client.llen(log), 1, 'the expired entry was dropped by the append')
      t.same(await history.read('s', 0), {
        entries: [{ seq: live, frame: '{"n":2}' }],
        complete: false,
      })
      t.equal((await history.read('s', old)).complete, true)
      const score = Number(await client.zscore(index, 's'))
      t.ok(score > Date.now() + 50_000, 'indexed by the live entry')
      await history.append('s', '{"n":3}', { maxLength: 1, ttlMs: 120_000 })
      t.equal(await client.llen(log), 1, 'trimmed to maxLength')
      t.ok(
        Number(await client.zscore(index, 's')) > score,
        'the index follows the new oldest entry',
      )
      t.equal(await history.sweep(Date.now() + 3_600_000), 0, 'nothing is due')
    },
  )

  t.test('read changes nothing; sweep counts what read saw expire', async (t) => {
    const { history } = setup(t)
    await Promise.all([0, 1, 2].map((n) => history.append('s', `{"n":${n}}`, short)))
    await expired(history, 's')
    await history.read('s', 0)
    t.equal(await history.sweep(Date.now() + 60_000), 3)
  })

  t.test('frames and except lists come back byte for byte', async (t) => {
    const { history } = setup(t)
    const frame = '{"text":"a:b\\nc","raw":"1:2:3:"}\n{"second":"line é 🎉"}'
    const except = ['conn:1', 'with\nnewline', '[', '']
    const seq = await history.append('s', frame, roomy, except)
    const empty = await history.append('s', '', roomy)
    t.same((await history.read('s', 0)).entries, [
      { seq, frame, except },
      { seq: empty, frame: '' },
    ])
  })

  t.test('sweep works through many streams in rounds, and only through due ones', async (t) => {
    const { prefix, history, index } = setup(t)
    const streams = Array.from({ length: 1100 }, (_, i) => `channel:${i}`)
    await Promise.all(streams.map((stream) => history.append(stream, '{}', brief)))
    await history.append('live', '{}', roomy)
    await until(
      async () => (await client.zcount(index, '-inf', Date.now() - 1)) === streams.length,
      'every brief entry to be past its expiry',
    )
    t.equal(await history.sweep(Date.now() + 3_600_000), streams.length)
    t.same(await client.zrange(index, '0', '-1'), ['live'])
    const logs = await client.keys(`*${prefix}*:log:*`)
    t.same(logs, [`{${prefix}:history}:log:live`], 'the swept lists are gone')
    t.equal(await history.sweep(Date.now() + 3_600_000), 0)
  })

  async function serverMicros(): Promise<{ time: number }> {
    const [seconds, micros] = await client.time()
    return { time: Number(seconds) * 1_000_000 + Number(micros) }
  }
}
