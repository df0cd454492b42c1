// What observers (the metrics feed) hear over real sockets: every store call with its operation and
// duration, messages dropped by reason, and how each resumption ended.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import type { DropReason, ResumeOutcome } from '../src/index.js'
import type { HistoryStore, ResumableSession } from '../src/stores.js'
import {
  MemoryHistoryStore,
  MemoryRateLimitStore,
  MemoryResumeStore,
  MemorySessionStore,
  MemoryTokenStore,
} from '../src/stores.js'
import { hashCredential } from '../src/session.js'
import { startServer, until } from './helpers/server.js'

t.test('every store call is reported with its store, operation and duration', async (t) => {
  const calls: string[] = []
  const durations: number[] = []
  const { warden, connect } = await startServer(t, { sweeper: false })
  warden.observe({
    storeCall: (store, operation, ms) => {
      calls.push(`${store}.${operation}`)
      durations.push(ms)
    },
  })
  const client = await connect('alice')
  // The warden's own memory stores admit in one step.
  t.same(calls, ['admission.admit'])
  await warden.stats()
  client.socket.close()
  await until(() => calls.includes('sessions.remove'))
  t.same(calls.slice(1), ['sessions.stats', 'sessions.remove'])
  t.ok(durations.every((ms) => ms >= 0))
})

t.test('given memory stores are called one by one, each reported', async (t) => {
  const calls: string[] = []
  const { warden, connect } = await startServer(t, {
    sweeper: false,
    stores: {
      sessions: new MemorySessionStore(),
      tokens: new MemoryTokenStore(),
      rateLimits: new MemoryRateLimitStore(),
    },
  })
  warden.observe({ storeCall: (store, operation) => calls.push(`${store}.${operation}`) })
  await connect('alice')
  t.same(calls, ['rateLimits.hit', 'rateLimits.hit', 'tokens.consume', 'sessions.add'])
})

t.test('messages dropped by the rate limit and by the backlog bound, inbound', async (t) => {
  const drops: DropReason[] = []
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => (release = resolve))
  const { warden, connect } = await startServer(t, {
    sweeper: false,
    limits: { messagesPerSecond: 1, messageBurst: 1 },
    handlers: { echo: ({ reply }) => void reply({ type: 'echo' }) },
  })
  warden.observe({ dropped: (reason) => drops.push(reason) })
  const client = await connect('alice')
  client.send({ type: 'echo' })
  client.send({ type: 'echo' })
  await client.next((m) => m.code === 'rate_limited')
  t.ok(drops.length >= 1)
  t.ok(drops.every((reason) => reason === 'rate_limited'))

  const queued: DropReason[] = []
  const busy = await startServer(t, {
    sweeper: false,
    limits: { messagesPerSecond: 1_000, messageBurst: 1_000 },
    handlers: { wait: () => held },
  })
  busy.warden.observe({ dropped: (reason) => queued.push(reason) })
  const waiting = await busy.connect('bob')
  // One runs, 64 (MAX_BACKLOG) wait behind it, the next is dropped.
  for (let i = 0; i < 66; i++) waiting.send({ type: 'wait' })
  await waiting.next((m) => m.code === 'rate_limited')
  t.same(queued, ['backlog_full'])
  release()
})

t.test('a frame refused because the peer cannot keep up, outbound', async (t) => {
  const drops: DropReason[] = []
  const { warden, connect, connections } = await startServer(t, {
    sweeper: false,
    send: { maxBufferedBytes: 1_024 },
  })
  warden.observe({ dropped: (reason) => drops.push(reason) })
  const client = await connect('alice')
  await until(() => connections.length === 1)
  const id = (connections[0] as { id: string }).id
  t.equal(warden.send(id, { type: 'big', pad: 'x'.repeat(2_000) }), false)
  t.same(drops, ['slow_consumer'])
  await client.closed
})

t.test('how each resumption ended', async (t) => {
  const outcomes: ResumeOutcome[] = []
  let gate: 'open' | 'fail' | Promise<void> = 'open'
  class GatedHistory extends MemoryHistoryStore {
    override async read(...args: Parameters<HistoryStore['read']>) {
      if (gate === 'fail') throw new Error('history down')
      await gate
      return super.read(...args)
    }
  }
  let claimFails = false
  class FailingResumes extends MemoryResumeStore {
    override claim(id: string, hash: string) {
      return claimFails ? Promise.reject(new Error('resumes down')) : super.claim(id, hash)
    }
  }
  const resumes = new FailingResumes()
  const history = new GatedHistory()
  const server = await startServer(t, {
    sweeper: false,
    resumption: true,
    stores: { resumes, history },
  })
  server.warden.observe({ resumed: (outcome) => outcomes.push(outcome) })
  const token = async (userId = 'alice') =>
    (await server.warden.issueToken({ userId, permissions: [] })).token
  const credential = 'c'.repeat(43)
  const save = async (state: string, userId = 'alice'): Promise<string> => {
    const record: ResumableSession = {
      id: randomUUID(),
      userId,
      credentialHash: hashCredential('alice', credential),
      state,
      expiresAt: Date.now() + 60_000,
    }
    await resumes.save(record)
    return `${record.id}.${credential}`
  }
  const fresh = '{"c":"x","ch":[],"f":{"all":0,"user:alice":0}}'
  const resume = async (resumeParam: string) =>
    server.open(`${server.url}?ws_token=${await token()}&ws_resume=${resumeParam}`)
  const sessionOf = (client: Awaited<ReturnType<typeof resume>>) =>
    client.next((m) => m.type === '$session')

  // A plain connect asks for nothing: not counted.
  await sessionOf(await server.connect('alice'))
  t.same(outcomes, [])

  const complete = await save(fresh)
  await sessionOf(await resume(complete))
  t.same(outcomes, ['complete'])
  await sessionOf(await resume(complete))
  await sessionOf(await resume('not-a-resume-parameter'))
  await sessionOf(await resume(await save('not json')))
  await sessionOf(await resume(await save(fresh, 'bob')))
  await sessionOf(await resume(await save('{"c":"x","ch":["room"],"f":{"all":0,"user:alice":0}}')))
  t.same(outcomes.slice(1), ['unknown', 'malformed', 'invalid_state', 'wrong_user', 'incomplete'])

  claimFails = true
  const refused = await resume(await save(fresh))
  t.equal(refused.status, 503)
  claimFails = false
  gate = 'fail'
  const cut = await resume(await save(fresh))
  t.equal((await cut.closed).code, 1013)
  let open: () => void = () => {}
  gate = new Promise<void>((resolve) => (open = resolve))
  const gone = await resume(await save(fresh))
  gone.socket.terminate()
  const last = server.connections.at(-1) as { open: boolean }
  await until(() => !last.open)
  open()
  await until(() => outcomes.length === 9)
  t.same(outcomes.slice(6), ['store_unavailable', 'store_unavailable', 'disconnected'])
})
