// Session resumption over real sockets: `$session`, stream positions, replay after a reconnect,
// single-use credentials, expiry, trimming, re-authorization, and resumption on another instance.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { encodePositions } from '@ws-warden/protocol'
import type { Connection, WardenOptions } from '../src/index.js'
import type { ExpiredSession, HistoryStore, ResumableSession, ResumeStore } from '../src/stores.js'
import { createWarden } from '../src/index.js'
import {
  MemoryBroker,
  MemoryHistoryStore,
  MemoryResumeStore,
  MemorySessionStore,
} from '../src/stores.js'
import { MAX_HELD_FRAMES } from '../src/connection.js'
import { decodeState, hashCredential, newCredential } from '../src/session.js'
import type { Client } from './helpers/server.js'
import { SECRET, startServer, until } from './helpers/server.js'

type Frame = Record<string, unknown>

interface SessionFrame extends Frame {
  id: string
  resume: string
  ttlMs: number
  resumed: boolean
}

const handlers: NonNullable<WardenOptions['handlers']> = {
  async join({ connection, message, warden, reply }) {
    await warden.join(connection, message.channel as string)
    reply({ type: 'joined', channel: message.channel })
  },
  async say({ connection, message, warden }) {
    await warden.toChannel(
      message.channel as string,
      { type: 'said', text: message.text },
      { except: [connection.id] },
    )
  },
  async leave({ connection, message, warden, reply }) {
    await warden.leave(connection, message.channel as string)
    reply({ type: 'left', channel: message.channel })
  },
  count({ connection, reply }) {
    const data = connection.data as { n: number }
    data.n++
    reply({ type: 'counted', n: data.n })
  },
}

function options(extra: Partial<WardenOptions> = {}): Partial<WardenOptions> {
  return {
    resumption: true,
    handlers,
    createData: () => ({ n: 0 }),
    ...extra,
  }
}

async function sessionOf(client: Client): Promise<SessionFrame> {
  return (await client.next((m) => m.type === '$session')) as SessionFrame
}

/** The highest `$q` seen per `$s`, as a client keeps them. */
function positionsOf(client: Client): Record<string, number> {
  const positions: Record<string, number> = {}
  for (const message of client.messages) {
    if (typeof message.$s === 'string' && typeof message.$q === 'number') {
      positions[message.$s] = Math.max(positions[message.$s] ?? 0, message.$q)
    }
  }
  return positions
}

/** A connect URL that resumes `session` with `positions`. */
function resumeUrl(
  url: string,
  token: string,
  session: SessionFrame,
  positions?: Record<string, number>,
): string {
  const pos = positions ? `&ws_pos=${encodePositions(positions)}` : ''
  return `${url}?ws_token=${token}&ws_resume=${session.id}.${session.resume}${pos}`
}

/** Frames of a client after its `$session`, as `stream:text` (or the type, for others). */
function after(client: Client, session: Frame): string[] {
  const start = client.messages.indexOf(session)
  return client.messages
    .slice(start + 1)
    .map((m) => (typeof m.$s === 'string' ? `${m.$s}:${String(m.text)}` : String(m.type)))
}

async function ended(connection: Connection): Promise<void> {
  await until(() => !connection.open)
}

t.test('a fresh session: $session first, fan-out frames carry their stream position', async (t) => {
  const server = await startServer(t, {
    ...options(),
    hooks: { onConnect: (connection) => void connection.send({ type: 'welcome' }) },
  })
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  await client.next((m) => m.type === 'welcome')
  t.equal(client.messages.indexOf(session), 0, '$session goes first, even before onConnect frames')
  t.match(session, { type: '$session', resumed: false, ttlMs: 120_000 })
  t.type(session.id, 'string')
  t.ok(session.resume.length >= 40, 'a long random credential')
  const connection = server.connections[0]!
  t.equal(connection.sessionId, session.id)
  t.equal(session.complete, undefined)

  client.send({ type: 'join', channel: 'room' })
  await client.next((m) => m.type === 'joined')
  await server.warden.toChannel('room', { type: 'm', text: 'one' })
  await server.warden.toChannel('room', { type: 'm', text: 'two' })
  await server.warden.broadcast({ type: 'b', text: 'all' })
  await server.warden.toUser('alice', { type: 'u', text: 'you' })
  server.warden.send(connection.id, { type: 'direct' })
  await client.next((m) => m.type === 'direct')
  const room = client.ofType('m')
  t.same(
    room.map((m) => m.$s),
    ['channel:room', 'channel:room'],
  )
  t.ok((room[1]!.$q as number) > (room[0]!.$q as number), 'seq increases along the stream')
  t.equal(client.ofType('b')[0]!.$s, 'all')
  t.equal(client.ofType('u')[0]!.$s, 'user:alice')
  t.equal(client.ofType('direct')[0]!.$s, undefined, 'direct sends are not in a stream')
})

t.test(
  'resume: the missed frames in order, then live ones; channels and data come back',
  async (t) => {
    const resumed: unknown[] = []
    const server = await startServer(
      t,
      options({ hooks: { onResume: (c, info) => resumed.push(info) } }),
    )
    const first = await server.connect('alice')
    const session = await sessionOf(first)
    await server.warden.toChannel('room', { type: 'm', text: 'before join' })
    first.send({ type: 'join', channel: 'room' })
    await first.next((m) => m.type === 'joined')
    first.send({ type: 'count' })
    first.send({ type: 'count' })
    await first.next((m) => m.type === 'counted' && m.n === 2)
    await server.warden.toChannel('room', { type: 'm', text: 'seen' })
    await first.next((m) => m.text === 'seen')

    first.socket.terminate()
    await ended(server.connections[0]!)
    await server.warden.toChannel('room', { type: 'm', text: 'missed 1' })
    await server.warden.broadcast({ type: 'b', text: 'missed 2' })
    await server.warden.toChannel('room', { type: 'm', text: 'missed 3' })
    await server.warden.toUser('alice', { type: 'u', text: 'missed 4' })
    await server.warden.toUser('bob', { type: 'u', text: 'not hers' })

    const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
    const second = await server.open(resumeUrl(server.url, token, session, positionsOf(first)))
    const again = await sessionOf(second)
    t.match(again, {
      id: session.id,
      resumed: true,
      complete: true,
      missed: 4,
      channels: ['room'],
    })
    t.not(again.resume, session.resume, 'a new credential')
    t.equal(second.messages.indexOf(again), 0)
    await until(() => second.messages.length >= 5)
    const replay = after(second, again)
    t.same(
      replay.filter((line) => line.startsWith('channel:room')),
      ['channel:room:missed 1', 'channel:room:missed 3'],
      'in order within the stream, nothing seen before',
    )
    t.same(replay.filter((line) => !line.startsWith('channel:')).sort(), [
      'all:missed 2',
      'user:alice:missed 4',
    ])

    await server.warden.toChannel('room', { type: 'm', text: 'live' })
    await second.next((m) => m.text === 'live')
    t.equal(second.messages.filter((m) => m.text === 'live').length, 1)
    const connection = server.connections[1]!
    t.same([...connection.channels], ['room'])
    t.same(connection.data, { n: 2 }, 'data as it was when the connection ended')
    t.equal(connection.sessionId, session.id)
    second.send({ type: 'count' })
    await second.next((m) => m.type === 'counted')
    t.equal(second.ofType('counted')[0]!.n, 3)
    t.same(resumed, [{ complete: true, missed: 4, channels: ['room'] }])
  },
)

t.test('positions: the client says what it saw; without them, all since the join', async (t) => {
  const server = await startServer(t, options())
  const token = async () =>
    (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  client.send({ type: 'join', channel: 'room' })
  await client.next((m) => m.type === 'joined')
  for (const text of ['a', 'b']) await server.warden.toChannel('room', { type: 'm', text })
  await client.next((m) => m.text === 'b')
  client.socket.terminate()
  await ended(server.connections[0]!)
  await server.warden.toChannel('room', { type: 'm', text: 'c' })

  const blind = await server.open(resumeUrl(server.url, await token(), session))
  const second = await sessionOf(blind)
  await until(() => blind.messages.length >= 4)
  t.same(
    after(blind, second),
    ['channel:room:a', 'channel:room:b', 'channel:room:c'],
    'no positions: everything since the join',
  )
  await server.warden.toChannel('room', { type: 'm', text: 'd' })
  await blind.next((m) => m.text === 'd')
  await server.warden.toChannel('room', { type: 'm', text: 'e' })
  await blind.next((m) => m.text === 'e')
  const seen = positionsOf(blind)
  seen['channel:room'] = blind.messages.find((m) => m.text === 'd')!.$q as number
  blind.socket.terminate()
  await ended(server.connections[1]!)

  const told = await server.open(resumeUrl(server.url, await token(), second, seen))
  const third = await sessionOf(told)
  await until(() => told.messages.length >= 2)
  t.same(after(told, third), ['channel:room:e'], 'from the position the client names')
})

t.test('a credential is single use and bound to its user', async (t) => {
  const server = await startServer(t, options())
  const token = async (user: string) =>
    (await server.warden.issueToken({ userId: user, permissions: [] })).token
  const first = await server.connect('alice')
  const session = await sessionOf(first)
  first.send({ type: 'join', channel: 'room' })
  await first.next((m) => m.type === 'joined')
  first.socket.terminate()
  await ended(server.connections[0]!)
  await server.warden.toChannel('room', { type: 'm', text: 'missed' })

  const owner = await server.open(resumeUrl(server.url, await token('alice'), session))
  const resumed = await sessionOf(owner)
  t.equal(resumed.resumed, true)

  // The same credential again (a thief, or a replay): a fresh session, nothing of the old one.
  const thief = await server.open(resumeUrl(server.url, await token('alice'), session))
  const fresh = await sessionOf(thief)
  t.equal(fresh.resumed, false)
  t.not(fresh.id, session.id)
  t.equal(thief.ofType('m').length, 0, 'nothing replayed')
  t.same([...server.connections[2]!.channels], [], 'no channel')

  // Another user with the owner's new credential: a fresh session, and the credential survives.
  const stranger = await server.open(resumeUrl(server.url, await token('mallory'), resumed))
  t.equal((await sessionOf(stranger)).resumed, false)
  owner.socket.terminate()
  await ended(server.connections[1]!)
  const back = await server.open(resumeUrl(server.url, await token('alice'), resumed))
  t.equal((await sessionOf(back)).resumed, true, 'the owner still resumes with it')
})

t.test('an unclaimed session expires: a fresh start, and onResumeExpired fires once', async (t) => {
  const expired: ExpiredSession[] = []
  const server = await startServer(
    t,
    options({
      resumption: { ttlMs: 200 },
      heartbeat: { intervalMs: 50, timeoutMs: 25 },
      hooks: { onResumeExpired: (session) => expired.push(session) },
    }),
  )
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  client.socket.terminate()
  await until(() => expired.length > 0, 3_000)
  t.same(
    expired.map(({ id, userId }) => ({ id, userId })),
    [{ id: session.id, userId: 'alice' }],
  )
  t.type(expired[0]!.expiresAt, 'number')
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const late = await server.open(resumeUrl(server.url, token, session))
  t.equal((await sessionOf(late)).resumed, false)
  t.equal(expired.length, 1)
})

t.test('live sessions stay resumable past the TTL: heartbeats push their expiry', async (t) => {
  const expired: ExpiredSession[] = []
  const server = await startServer(
    t,
    options({
      resumption: { ttlMs: 100 },
      heartbeat: { intervalMs: 40, timeoutMs: 20 },
      hooks: { onResumeExpired: (session) => expired.push(session) },
    }),
  )
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  let pings = 0
  client.socket.on('ping', () => pings++)
  await until(() => pings >= 8, 3_000) // several TTLs while connected
  t.same(expired, [])
  client.socket.terminate()
  await ended(server.connections[0]!)
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const back = await server.open(resumeUrl(server.url, token, session))
  t.equal((await sessionOf(back)).resumed, true)
})

t.test('trimmed history: the latest frames, and complete: false', async (t) => {
  const server = await startServer(t, options({ resumption: { maxMessages: 2 } }))
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  client.send({ type: 'join', channel: 'room' })
  await client.next((m) => m.type === 'joined')
  client.socket.terminate()
  await ended(server.connections[0]!)
  for (const text of ['1', '2', '3', '4'])
    await server.warden.toChannel('room', { type: 'm', text })
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const back = await server.open(resumeUrl(server.url, token, session))
  const resumed = await sessionOf(back)
  t.match(resumed, { resumed: true, complete: false, missed: 2 })
  await until(() => back.messages.length >= 3)
  t.same(after(back, resumed), ['channel:room:3', 'channel:room:4'])
})

t.test('a channel left is not restored', async (t) => {
  const server = await startServer(t, options())
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  for (const channel of ['room', 'other']) {
    client.send({ type: 'join', channel })
    await client.next((m) => m.type === 'joined' && m.channel === channel)
  }
  client.send({ type: 'leave', channel: 'other' })
  await client.next((m) => m.type === 'left')
  client.socket.terminate()
  await ended(server.connections[0]!)
  await server.warden.toChannel('other', { type: 'm', text: 'gone' })
  await server.warden.toChannel('room', { type: 'm', text: 'kept' })
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const back = await server.open(resumeUrl(server.url, token, session))
  const resumed = await sessionOf(back)
  t.match(resumed, { resumed: true, complete: true, channels: ['room'], missed: 1 })
  await until(() => back.messages.length >= 2)
  t.same(after(back, resumed), ['channel:room:kept'])
})

t.test('channels are authorized again: one refused now is not restored', async (t) => {
  const allowed = new Set(['room', 'other'])
  const server = await startServer(
    t,
    options({ authorizeChannel: (_connection, channel) => allowed.has(channel) }),
  )
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  for (const channel of ['room', 'other']) {
    client.send({ type: 'join', channel })
    await client.next((m) => m.type === 'joined' && m.channel === channel)
  }
  client.socket.terminate()
  await ended(server.connections[0]!)
  await server.warden.toChannel('room', { type: 'm', text: 'secret' })
  await server.warden.toChannel('other', { type: 'm', text: 'fine' })
  allowed.delete('room')
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const back = await server.open(resumeUrl(server.url, token, session))
  const resumed = await sessionOf(back)
  t.match(resumed, { resumed: true, complete: false, channels: ['other'], missed: 1 })
  await until(() => back.messages.length >= 2)
  t.same(after(back, resumed), ['channel:other:fine'])
  t.same([...server.connections[1]!.channels], ['other'])
})

t.test('exclusions hold across a resumption', async (t) => {
  const server = await startServer(t, options())
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  client.send({ type: 'join', channel: 'room' })
  await client.next((m) => m.type === 'joined')
  const connection = server.connections[0]!
  const other = await server.connect('bob')
  other.send({ type: 'join', channel: 'room' })
  await other.next((m) => m.type === 'joined')
  // Published while alice is still connected, but she disconnects before it reaches her.
  client.socket.pause()
  client.send({ type: 'say', channel: 'room', text: 'her own words' })
  await other.next((m) => m.text === 'her own words')
  await server.warden.toChannel(
    'room',
    { type: 'm', text: 'not to her' },
    { except: [connection.id] },
  )
  await server.warden.toChannel('room', { type: 'm', text: 'to her' })
  const seen = positionsOf(client)
  client.socket.terminate()
  await ended(connection)
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const back = await server.open(resumeUrl(server.url, token, session, seen))
  const resumed = await sessionOf(back)
  await until(() => back.messages.length >= 2)
  t.same(after(back, resumed), ['channel:room:to her'])
  t.equal(resumed.missed, 1)
})

/** A history store whose reads (or heads) wait for the test, and can fail on demand. */
class GatedHistory extends MemoryHistoryStore {
  gate: Promise<void> | undefined
  failNextRead = false
  failAppends = false

  override async append(...args: Parameters<MemoryHistoryStore['append']>) {
    if (this.failAppends) throw new Error('history store down')
    return super.append(...args)
  }

  override async read(stream: string, afterSeq: number) {
    await this.gate
    if (this.failNextRead) {
      this.failNextRead = false
      throw new Error('history store down')
    }
    return super.read(stream, afterSeq)
  }

  override async head(stream: string) {
    await this.gate
    return super.head(stream)
  }
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => {}
  const promise = new Promise<void>((resolve) => (open = resolve))
  return { promise, open }
}

t.test(
  'frames published during the replay are neither lost, duplicated nor reordered',
  async (t) => {
    const history = new GatedHistory()
    const server = await startServer(t, options({ stores: { history } }))
    const client = await server.connect('alice')
    const session = await sessionOf(client)
    client.send({ type: 'join', channel: 'room' })
    await client.next((m) => m.type === 'joined')
    client.socket.terminate()
    await ended(server.connections[0]!)
    await server.warden.toChannel('room', { type: 'm', text: 'missed' })

    const held = gate()
    history.gate = held.promise
    const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
    const back = await server.open(resumeUrl(server.url, token, session))
    back.send({ type: 'say', channel: 'room', text: 'sent at once' }) // waits for the channel
    await until(() => server.connections.length === 2)
    await until(() => server.connections[1]!.channels.has('room'))
    await server.warden.toChannel('room', { type: 'm', text: 'during' })
    t.same(back.messages, [], 'nothing goes out before $session')
    history.gate = undefined
    held.open()
    const resumed = await sessionOf(back)
    await server.warden.toChannel('room', { type: 'm', text: 'after' })
    await back.next((m) => m.text === 'after')
    t.same(after(back, resumed), [
      'channel:room:missed',
      'channel:room:during',
      'channel:room:after',
    ])
    t.equal(resumed.missed, 2, '"during" was read from history; its live copy was dropped')
    const bob = await server.connect('bob')
    t.ok(bob, 'the held message was handled once the channel was back (no error frame)')
    t.same(back.ofType('error'), [])
  },
)

t.test('frames published while a fresh session starts are delivered, once', async (t) => {
  const history = new GatedHistory()
  const server = await startServer(t, options({ stores: { history } }))
  const reading = gate()
  history.gate = reading.promise
  let heads = 0
  const head = history.head.bind(history)
  history.head = (stream) => {
    heads++
    return head(stream)
  }
  const client = await server.connect('alice')
  await until(() => heads === 2) // subscribed to its streams, reading where they stand
  await server.warden.broadcast({ type: 'b', text: 'during' })
  reading.open()
  const session = await sessionOf(client)
  await server.warden.broadcast({ type: 'b', text: 'after' })
  await client.next((m) => m.text === 'after')
  t.same(after(client, session), ['all:during', 'all:after'])

  client.socket.terminate()
  await ended(server.connections[0]!)
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const back = await server.open(resumeUrl(server.url, token, session, positionsOf(client)))
  const resumed = await sessionOf(back)
  t.equal(resumed.missed, 0, 'nothing it had is replayed')
})

t.test('sessions starting at once share one read of where a stream stands', async (t) => {
  const history = new GatedHistory()
  const server = await startServer(t, options({ stores: { history } }))
  const reading = gate()
  history.gate = reading.promise
  const reads: string[] = []
  const head = history.head.bind(history)
  history.head = (stream) => {
    reads.push(stream)
    return head(stream)
  }
  await server.warden.broadcast({ type: 'b', text: 'before' })
  const clients = await Promise.all([server.connect('alice'), server.connect('bob')])
  await until(() => reads.length === 3)
  reading.open()
  const sessions = await Promise.all(clients.map(sessionOf))
  t.same(reads.sort(), ['all', 'user:alice', 'user:bob'], 'one read of `all` for both')
  // The shared floor is where `all` stood: a resumption replays only what came after it.
  clients[0]!.socket.terminate()
  await ended(server.connections[0]!)
  await server.warden.broadcast({ type: 'b', text: 'missed' })
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const back = await server.open(resumeUrl(server.url, token, sessions[0]!))
  const resumed = await sessionOf(back)
  await back.next((m) => m.text === 'missed')
  t.same(after(back, resumed), ['all:missed'])
  // Only a read in flight is shared: a session starting later reads again.
  await sessionOf(await server.connect('carol'))
  t.equal(reads.filter((stream) => stream === 'all').length, 2)
})

t.test('frames published after the replay was read, before it is sent, follow it', async (t) => {
  const resumes = new MemoryResumeStore()
  const server = await startServer(t, options({ stores: { resumes } }))
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  client.send({ type: 'join', channel: 'room' })
  await client.next((m) => m.type === 'joined')
  client.socket.terminate()
  await ended(server.connections[0]!)
  await server.warden.toChannel('room', { type: 'm', text: 'missed' })
  const saving = gate()
  let waiting = false
  const save = resumes.save.bind(resumes)
  resumes.save = async (record) => {
    waiting = true
    await saving.promise
    return save(record)
  }
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const back = await server.open(resumeUrl(server.url, token, session))
  await until(() => waiting) // the replay is read; the session is being saved
  await server.warden.toChannel('room', { type: 'm', text: 'newer' })
  saving.open()
  const resumed = await sessionOf(back)
  await back.next((m) => m.text === 'newer')
  t.same(after(back, resumed), ['channel:room:missed', 'channel:room:newer'])
  t.equal(resumed.missed, 1)
})

t.test(
  'a store failure during a resumption closes with 1013 and gives the session back',
  async (t) => {
    const history = new GatedHistory()
    const errors: unknown[] = []
    const server = await startServer(
      t,
      options({ stores: { history }, hooks: { onError: (error) => errors.push(error) } }),
    )
    const client = await server.connect('alice')
    const session = await sessionOf(client)
    client.socket.terminate()
    await ended(server.connections[0]!)
    history.failNextRead = true
    const token = async () =>
      (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
    const failed = await server.open(resumeUrl(server.url, await token(), session))
    t.match(await failed.closedWithin(), { code: 1013, reason: 'store_unavailable' })
    t.same(failed.messages, [])
    await until(() => errors.length > 0)
    const retry = await server.open(resumeUrl(server.url, await token(), session))
    t.equal((await sessionOf(retry)).resumed, true, 'the same credential works again')
  },
)

t.test('a resume store that fails at the claim refuses the handshake with 503', async (t) => {
  const resumes = new MemoryResumeStore()
  const server = await startServer(t, options({ stores: { resumes } }))
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  resumes.claim = () => Promise.reject(new Error('resume store down'))
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const refused = await server.open(resumeUrl(server.url, token, session))
  t.equal(refused.status, 503)
  await until(async () => (await server.warden.stats()).cluster.connections === 1)
  t.pass('the reservation was dropped')
})

t.test(
  'a channel that cannot be rejoined (not refused: failed) fails the resumption',
  async (t) => {
    let broken = false
    const server = await startServer(
      t,
      options({
        authorizeChannel: () => {
          if (broken) throw new Error('policy service down')
          return true
        },
      }),
    )
    const client = await server.connect('alice')
    const session = await sessionOf(client)
    client.send({ type: 'join', channel: 'room' })
    await client.next((m) => m.type === 'joined')
    client.socket.terminate()
    await ended(server.connections[0]!)
    broken = true
    const token = async () =>
      (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
    const failed = await server.open(resumeUrl(server.url, await token(), session))
    t.match(await failed.closedWithin(), { code: 1013 })
    broken = false
    const back = await server.open(resumeUrl(server.url, await token(), session))
    t.match(await sessionOf(back), { resumed: true, channels: ['room'] })
  },
)

t.test(
  'a fan-out held while the session starts, that history failed to record, goes out after',
  async (t) => {
    const history = new GatedHistory()
    const server = await startServer(t, options({ stores: { history } }))
    const held = gate()
    history.gate = held.promise
    const client = await server.connect('alice')
    await until(() => server.connections.length === 1)
    history.failAppends = true
    await server.warden.broadcast({ type: 'unrecorded' })
    history.failAppends = false
    history.gate = undefined
    held.open()
    await client.next((m) => m.type === 'unrecorded')
    t.same(
      client.messages.map((m) => [m.type, m.$q]),
      [
        ['$session', undefined],
        ['unrecorded', undefined],
      ],
    )
  },
)

t.test('a connection that holds too many frames while its session starts is cut off', async (t) => {
  const history = new GatedHistory()
  const causes: string[] = []
  const server = await startServer(
    t,
    options({
      stores: { history },
      hooks: { onDisconnect: (_connection, info) => causes.push(info.cause) },
    }),
  )
  const held = gate()
  history.gate = held.promise
  const client = await server.connect('alice')
  await until(() => server.connections.length === 1)
  const connection = server.connections[0]!
  for (let i = 0; i <= MAX_HELD_FRAMES; i++) connection.send({ type: 'n', i })
  await client.closedWithin()
  held.open()
  await until(() => causes.length === 1)
  t.same(causes, ['slow_consumer'])
  t.same(client.messages, [])
})

t.test('a connection that ends while its session starts leaves nothing half done', async (t) => {
  const history = new GatedHistory()
  const server = await startServer(t, options({ stores: { history } }))
  const token = async () =>
    (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token

  // A fresh session: the client leaves before $session; nothing is saved, nothing sent.
  const held = gate()
  history.gate = held.promise
  const early = await server.connect('alice')
  await until(() => server.connections.length === 1)
  early.socket.terminate()
  await ended(server.connections[0]!)
  history.gate = undefined
  held.open()

  // A resumption: the client leaves during the replay; the session can be claimed again.
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  client.socket.terminate()
  await ended(server.connections[1]!)
  const again = gate()
  history.gate = again.promise
  const leaving = await server.open(resumeUrl(server.url, await token(), session))
  await until(() => server.connections.length === 3)
  leaving.socket.terminate()
  await ended(server.connections[2]!)
  history.gate = undefined
  again.open()
  await until(() => history.gate === undefined)
  const back = await server.open(resumeUrl(server.url, await token(), session))
  t.equal((await sessionOf(back)).resumed, true)
})

t.test('ends meant to be final drop the session; shutdown keeps it', async (t) => {
  const shared = { resumes: new MemoryResumeStore(), history: new MemoryHistoryStore() }
  const server = await startServer(t, options({ stores: shared, shutdown: { drainMs: 0 } }))
  const token = async () =>
    (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token

  const kicked = await server.connect('alice')
  const kickedSession = await sessionOf(kicked)
  await server.warden.disconnectUser('alice', 4003, 'banned')
  await kicked.closedWithin()
  t.equal(
    (await sessionOf(await server.open(resumeUrl(server.url, await token(), kickedSession))))
      .resumed,
    false,
  )

  const leaving = await server.connect('bob')
  const leavingSession = await sessionOf(leaving)
  leaving.socket.close(1000)
  await leaving.closedWithin()
  await until(() => [...server.warden.connectionsOf('bob')].length === 0)
  const bobToken = (await server.warden.issueToken({ userId: 'bob', permissions: [] })).token
  t.equal(
    (await sessionOf(await server.open(resumeUrl(server.url, bobToken, leavingSession)))).resumed,
    false,
    'a client that closed with 1000 is done',
  )

  const restarted = await server.connect('carol')
  const carolSession = await sessionOf(restarted)
  await server.warden.close()
  t.match(await restarted.closedWithin(), { code: 1012 })
  const next = await startServer(t, options({ stores: shared }))
  const carolToken = (await next.warden.issueToken({ userId: 'carol', permissions: [] })).token
  t.equal(
    (await sessionOf(await next.open(resumeUrl(next.url, carolToken, carolSession)))).resumed,
    true,
    'resumed on the next instance',
  )
})

t.test('a resumption admitted while shutdown begins gives its session back', async (t) => {
  const shared = { resumes: new MemoryResumeStore(), history: new MemoryHistoryStore() }
  const sessions = new MemorySessionStore()
  const server = await startServer(t, options({ stores: { ...shared, sessions } }))
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  client.socket.terminate()
  await ended(server.connections[0]!)
  const opening = gate()
  let adding = false
  const add = sessions.add.bind(sessions)
  sessions.add = async (record, caps) => {
    adding = true
    await opening.promise
    return add(record, caps)
  }
  const token = (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const connecting = server.open(resumeUrl(server.url, token, session))
  await until(() => adding)
  const closing = server.warden.close()
  opening.open()
  t.match(await (await connecting).closedWithin(), { code: 1012 })
  await closing
  const next = await startServer(t, options({ stores: shared }))
  const again = (await next.warden.issueToken({ userId: 'alice', permissions: [] })).token
  t.equal((await sessionOf(await next.open(resumeUrl(next.url, again, session)))).resumed, true)
})

t.test('a ticket released before its upgrade gives the claimed session back', async (t) => {
  const server = await startServer(t, options())
  const client = await server.connect('alice')
  const session = await sessionOf(client)
  client.socket.terminate()
  await ended(server.connections[0]!)
  const token = async () =>
    (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const path = new URL(resumeUrl(server.url, await token(), session))
  const admission = await server.warden.admit({
    url: path.pathname + path.search,
    headers: {},
    remoteAddress: '127.0.0.1',
  })
  t.equal(admission.ok, true)
  if (admission.ok) admission.ticket.release()
  const back = await server.open(resumeUrl(server.url, await token(), session))
  t.equal((await sessionOf(back)).resumed, true)
})

/** A resume store shared by two instances, whose writes from one of them can be cut. */
class Severable implements ResumeStore {
  dead = false
  /** The last state written, by session id. */
  readonly written = new Map<string, string>()
  constructor(private readonly store: ResumeStore) {}
  private alive(): void {
    if (this.dead) throw new Error('instance is gone')
  }
  async save(session: ResumableSession) {
    this.alive()
    await this.store.save(session)
    this.written.set(session.id, session.state)
  }
  async update(session: ResumableSession) {
    this.alive()
    const updated = await this.store.update(session)
    this.written.set(session.id, session.state)
    return updated
  }
  claim(id: string, hash: string) {
    return this.store.claim(id, hash)
  }
  async touch(ids: readonly string[], expiresAt: number) {
    this.alive()
    return this.store.touch(ids, expiresAt)
  }
  async remove(id: string) {
    this.alive()
    return this.store.remove(id)
  }
  sweep(before: number) {
    return this.store.sweep(before)
  }
}

t.test('resumption on another instance after the first died', async (t) => {
  const resumes = new MemoryResumeStore()
  const history: HistoryStore = new MemoryHistoryStore()
  const sessions = new MemorySessionStore()
  const broker = new MemoryBroker()
  const severable = new Severable(resumes)
  const a = await startServer(
    t,
    options({ stores: { resumes: severable, history, sessions, broker } }),
  )
  const b = await startServer(t, options({ stores: { resumes, history, sessions, broker } }))
  await Promise.all([a.warden.ready(), b.warden.ready()])

  const client = await a.connect('alice')
  const session = await sessionOf(client)
  client.send({ type: 'join', channel: 'room' })
  await client.next((m) => m.type === 'joined')
  await until(() => severable.written.get(session.id)?.includes('"room"') === true)
  const bob = await b.connect('bob')
  bob.send({ type: 'join', channel: 'room' })
  await bob.next((m) => m.type === 'joined')
  await b.warden.toChannel('room', { type: 'm', text: 'over the broker' })
  const relayed = await client.next((m) => m.text === 'over the broker')
  t.equal(relayed.$s, 'channel:room', 'the position travels with the broker payload')

  // Instance A dies: it writes nothing more (no final snapshot), its socket drops.
  severable.dead = true
  client.socket.terminate()
  await ended(a.connections[0]!)
  await b.warden.toChannel('room', { type: 'm', text: 'while away' })
  const token = (await b.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const back = await b.open(resumeUrl(b.url, token, session, positionsOf(client)))
  const resumed = await sessionOf(back)
  t.match(resumed, { resumed: true, complete: true, channels: ['room'], missed: 1 })
  await until(() => back.messages.length >= 2)
  t.same(after(back, resumed), ['channel:room:while away'])
  await b.warden.toChannel('room', { type: 'm', text: 'live on b' })
  await back.next((m) => m.text === 'live on b')
})

t.test('a fan-out still goes out when the history store fails, without a position', async (t) => {
  const errors: unknown[] = []
  const history = new MemoryHistoryStore()
  history.append = async () => {
    throw new Error('history store down')
  }
  const server = await startServer(
    t,
    options({ stores: { history }, hooks: { onError: (error) => errors.push(error) } }),
  )
  const client = await server.connect('alice')
  await sessionOf(client)
  t.equal(await server.warden.broadcast({ type: 'b' }), 1)
  const frame = await client.next((m) => m.type === 'b')
  t.equal(frame.$q, undefined)
  await until(() => errors.length > 0)
})

t.test('saved state that cannot be read, or names another user, starts fresh', async (t) => {
  const resumes = new MemoryResumeStore()
  const server = await startServer(t, options({ stores: { resumes } }))
  const token = async () =>
    (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const credential = 'c'.repeat(43)
  const saved = (state: string, userId = 'alice'): ResumableSession => ({
    id: randomUUID(),
    userId,
    credentialHash: hashCredential('alice', credential),
    state,
    expiresAt: Date.now() + 60_000,
  })
  for (const record of [saved('not json'), saved('{"c":"x","ch":[],"f":{}}', 'bob')]) {
    await resumes.save(record)
    const frame = { id: record.id, resume: credential } as SessionFrame
    const client = await server.open(resumeUrl(server.url, await token(), frame))
    t.equal((await sessionOf(client)).resumed, false)
  }
  // A channel saved without its floor (its join was under way): restored, nothing replayed from
  // it, and the resumption says it may be incomplete.
  await server.warden.toChannel('room', { type: 'm', text: 'before' })
  const partial = saved('{"c":"x","ch":["room"],"f":{"all":0,"user:alice":0}}')
  await resumes.save(partial)
  const client = await server.open(
    resumeUrl(server.url, await token(), { id: partial.id, resume: credential } as SessionFrame),
  )
  const resumed = await sessionOf(client)
  t.match(resumed, { resumed: true, complete: false, missed: 0, channels: ['room'] })
  await server.warden.toChannel('room', { type: 'm', text: 'after' })
  const seen = await client.next((m) => m.text === 'after')
  t.same(after(client, resumed), ['channel:room:after'])
  // The same, but the client names its position in the channel: replay from there.
  await server.warden.toChannel('room', { type: 'm', text: 'since' })
  const named = saved('{"c":"y","ch":["room"],"f":{"all":0,"user:alice":0}}')
  await resumes.save(named)
  const other = await server.open(
    resumeUrl(server.url, await token(), { id: named.id, resume: credential } as SessionFrame, {
      'channel:room': seen.$q as number,
    }),
  )
  const replayed = await sessionOf(other)
  t.match(replayed, { resumed: true, complete: true, channels: ['room'] })
  await until(() => other.messages.length >= 2)
  t.same(after(other, replayed), ['channel:room:since'])
})

t.test('credentials: 32 random bytes each, never the same, across pool refills', async (t) => {
  const credentials = Array.from({ length: 1000 }, () => newCredential())
  t.equal(new Set(credentials).size, 1000)
  t.ok(credentials.every((credential) => /^[A-Za-z0-9_-]{43}$/.test(credential)))
  const bytes = credentials.map((credential) => Buffer.from(credential, 'base64url'))
  t.ok(bytes.every((credential) => credential.length === 32))
  t.notOk(
    bytes.some((credential) => credential.every((byte) => byte === 0)),
    'none left unfilled',
  )
})

t.test('decodeState accepts only the shape the core writes', async (t) => {
  t.same(decodeState('{"c":"x","ch":["a"],"f":{"all":1},"d":{"n":1}}'), {
    c: 'x',
    ch: ['a'],
    f: { all: 1 },
    d: { n: 1 },
  })
  for (const text of [
    'nope',
    'null',
    '3',
    '{"ch":[],"f":{}}',
    '{"c":"x","ch":{},"f":{}}',
    '{"c":"x","ch":[1],"f":{}}',
    '{"c":"x","ch":[],"f":null}',
    '{"c":"x","ch":[],"f":{"all":"1"}}',
  ]) {
    t.equal(decodeState(text), undefined, text)
  }
})

t.test('options: resumption needs heartbeats; bad values name the option', async (t) => {
  const tokens = { secret: SECRET }
  t.throws(() => createWarden({ tokens, resumption: true, heartbeat: false }), {
    name: 'TypeError',
    message: /option resumption needs heartbeats/,
  })
  t.throws(() => createWarden({ tokens, resumption: 'yes' as never }), /option resumption must be/)
  t.throws(() => createWarden({ tokens, resumption: null as never }), /option resumption must be/)
  t.throws(() => createWarden({ tokens, resumption: { ttlMs: 0 } }), /option resumption.ttlMs/)
  t.throws(
    () => createWarden({ tokens, resumption: { maxMessages: 1.5 } }),
    /option resumption.maxMessages/,
  )
  for (const resumption of [false, undefined]) {
    const warden = createWarden({ tokens, ...(resumption === undefined ? {} : { resumption }) })
    await warden.close()
  }
})
