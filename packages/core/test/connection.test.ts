import t from 'tap'
import { EventEmitter } from 'node:events'
import type { RawData, WebSocket } from 'ws'
import type { ConnectionHost } from '../src/connection.js'
import { BATCH_FLUSH_BYTES, LiveConnection } from '../src/connection.js'
import { TextFrame } from '../src/frame.js'
import type { DisconnectInfo } from '../src/types.js'

const OPEN = 1
const CLOSING = 2

/** The part of a `ws` socket a connection uses, with the buffer under the test's control. */
class FakeSocket extends EventEmitter {
  readyState = OPEN
  private buffered = 0

  get bufferedAmount(): number {
    return this.buffered
  }

  set bufferedAmount(value: number) {
    this.buffered = value
  }

  /** Bytes each send leaves in the buffer (a peer that is not reading). */
  stuckPerSend = 0
  refuseClose = false
  readonly sent: { frame: string | Buffer; options: unknown }[] = []
  readonly closes: { code: number; reason: string }[] = []
  terminated = 0

  send(frame: string | Buffer, options: unknown): void {
    this.sent.push({ frame, options })
    this.bufferedAmount += this.stuckPerSend
  }

  close(code: number, reason: string): void {
    if (this.refuseClose) throw new TypeError('First argument must be a valid error code number')
    this.closes.push({ code, reason })
    this.readyState = CLOSING
  }

  terminate(): void {
    this.terminated++
  }

  readonly reading: ('pause' | 'resume')[] = []

  pause(): void {
    this.reading.push('pause')
  }

  resume(): void {
    this.reading.push('resume')
  }
}

/**
 * The TCP socket under a `ws` socket, as the direct write path sees it: corks, writes and what
 * its buffer holds (corked bytes stay until the last uncork; `stuck` bytes never leave).
 */
class FakeRawSocket {
  corked = 0
  corks = 0
  uncorks = 0
  /** Bytes handed over while corked, not yet flushed. */
  pending: Buffer[] = []
  /** What reached the "wire", one entry per flush (or per uncorked write). */
  readonly flushed: Buffer[] = []
  /** The peer does not read: flushed bytes stay in the buffer. */
  stuck = false
  stuckBytes = 0

  write(chunk: Buffer): boolean {
    this.pending.push(chunk)
    if (this.corked === 0) this.flush()
    return true
  }

  cork(): void {
    this.corked++
    this.corks++
  }

  uncork(): void {
    this.uncorks++
    if (this.corked > 0) this.corked--
    if (this.corked === 0) this.flush()
  }

  get buffered(): number {
    return this.pending.reduce((sum, chunk) => sum + chunk.length, 0) + this.stuckBytes
  }

  private flush(): void {
    if (this.pending.length === 0) return
    const out = Buffer.concat(this.pending)
    this.pending = []
    this.flushed.push(out)
    if (this.stuck) this.stuckBytes += out.length
  }
}

/** A `ws` socket with the internals the direct write path reads. */
class FakeWsSocket extends FakeSocket {
  readonly _socket = new FakeRawSocket()
  readonly _sender = { _state: 0, _firstFragment: true }

  override get bufferedAmount(): number {
    return this._socket.buffered
  }

  override set bufferedAmount(_value: number) {
    // Computed from the raw socket, as in ws.
  }
}

/** Resolves after the current tick's `process.nextTick` callbacks (the batches' flush). */
const nextTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve))

function setup<TSocket extends FakeSocket = FakeSocket>(
  limits: { maxBufferedBytes?: number; sendTimeoutMs?: number } = {},
  socket: TSocket = new FakeSocket() as TSocket,
) {
  const clock = { now: 1_000 }
  const ended: DisconnectInfo[] = []
  const received: { connection: unknown; data: RawData; isBinary: boolean }[] = []
  const errors: Error[] = []
  const host: ConnectionHost<{ room?: string }> = {
    maxBufferedBytes: limits.maxBufferedBytes ?? 1_024,
    sendTimeoutMs: limits.sendTimeoutMs ?? 1_000,
    now: () => clock.now,
    ended: (_connection, cause, code) => ended.push({ cause, code }),
    received: (connection, data, isBinary) => received.push({ connection, data, isBinary }),
    socketError: (_connection, error) => errors.push(error),
  }
  const connection = new LiveConnection<{ room?: string }>({
    id: 'c1',
    principal: { userId: 'alice', permissions: ['chat.read'] },
    ip: '127.0.0.1',
    socket: socket as unknown as WebSocket,
    data: {},
    host,
    burst: 5,
  })
  return { socket, clock, ended, connection, received, errors }
}

t.test('a new connection: identity, clock and bucket', async (t) => {
  const { connection } = setup()
  t.equal(connection.userId, 'alice')
  t.equal(connection.connectedAt, 1_000)
  t.equal(connection.lastSeenAt, 1_000)
  t.equal(connection.bucketTokens, 5)
  t.equal(connection.bucketAt, 1_000)
  t.equal(connection.open, true)
})

t.test(
  'send: envelopes are serialized, strings pass as they are, both as text frames',
  async (t) => {
    const { socket, connection } = setup()
    t.equal(connection.send({ type: 'hello', n: 1 }), true)
    t.equal(connection.send('{"type":"raw"}'), true)
    t.equal(connection.sendFrame(TextFrame.of('{"type":"shared"}')), true)
    t.same(
      socket.sent.map(({ frame }) => frame.toString()),
      ['{"type":"hello","n":1}', '{"type":"raw"}', '{"type":"shared"}'],
    )
    t.ok(socket.sent.every(({ options }) => (options as { binary: boolean }).binary === false))
  },
)

t.test('send: nothing goes to a socket that is no longer open', async (t) => {
  const { socket, connection } = setup()
  socket.readyState = CLOSING
  t.equal(connection.send({ type: 'late' }), false)
  t.same(socket.sent, [])
  t.equal(connection.open, true, 'the close event will end it; the send does not')
})

t.test('a send past the buffered-bytes bound cuts the peer off as a slow consumer', async (t) => {
  const { socket, ended, connection } = setup({ maxBufferedBytes: 100 })
  socket.bufferedAmount = 90
  t.equal(connection.send('x'.repeat(10)), true, 'exactly at the bound is fine')
  t.equal(connection.send('x'.repeat(11)), false)
  t.equal(socket.sent.length, 1, 'the frame that did not fit was not sent')
  t.equal(socket.terminated, 1)
  t.equal(connection.open, false)
  connection.socketClosed(1006)
  t.same(ended, [{ cause: 'slow_consumer', code: 1006 }])
})

t.test('bytes stuck in the buffer past the send timeout make a slow consumer', async (t) => {
  const { socket, clock, ended, connection } = setup({ sendTimeoutMs: 1_000 })
  socket.stuckPerSend = 10
  t.equal(connection.send({ type: 'a' }), true)
  t.equal(connection.backloggedSince, 1_000, 'the backlog clock starts')
  clock.now = 1_999
  t.equal(connection.send({ type: 'b' }), true, 'still within the timeout')
  t.equal(connection.backloggedSince, 1_000, 'the clock is not restarted by later sends')
  clock.now = 2_000
  t.equal(connection.send({ type: 'c' }), false, 'the timeout is reached')
  t.equal(socket.terminated, 1)
  connection.socketClosed(1006)
  t.same(ended, [{ cause: 'slow_consumer', code: 1006 }])
})

t.test('a buffer that drains resets the backlog clock', async (t) => {
  const { socket, clock, connection } = setup({ sendTimeoutMs: 1_000 })
  socket.stuckPerSend = 10
  connection.send({ type: 'a' })
  clock.now = 1_500
  socket.bufferedAmount = 0
  connection.checkBacklog(clock.now)
  t.equal(connection.backloggedSince, 0)
  connection.send({ type: 'b' })
  t.equal(connection.backloggedSince, 1_500)
  clock.now = 2_400
  t.equal(connection.send({ type: 'c' }), true, '900 ms since the new backlog began')
  t.equal(socket.terminated, 0)
})

t.test('close: one closing handshake with a reason cut to 123 bytes', async (t) => {
  const { socket, ended, connection } = setup()
  connection.close(4003, 'x'.repeat(300))
  connection.close(4000, 'again')
  t.same(socket.closes, [{ code: 4003, reason: 'x'.repeat(123) }])
  t.equal(connection.open, false)
  t.equal(connection.send({ type: 'late' }), false)
  connection.socketClosed(4003)
  t.same(ended, [{ cause: 'server', code: 4003 }])
})

t.test('close with no arguments is a normal closure', async (t) => {
  const { socket, connection } = setup()
  connection.close()
  t.same(socket.closes, [{ code: 1000, reason: '' }])
})

t.test('a close the socket refuses drops the socket instead', async (t) => {
  const { socket, ended, connection } = setup()
  socket.refuseClose = true
  connection.close(1005)
  t.equal(socket.terminated, 1)
  t.equal(connection.open, false)
  connection.socketClosed(1006)
  t.same(ended, [{ cause: 'server', code: 1006 }])
})

t.test(
  'cutting off a closing connection keeps its cause, unless shutdown takes over',
  async (t) => {
    await t.test('a heartbeat miss during a server close', async (t) => {
      const { socket, ended, connection } = setup()
      connection.close(4003)
      connection.cutOff('heartbeat')
      t.equal(socket.terminated, 1)
      connection.socketClosed(1006)
      t.same(ended, [{ cause: 'server', code: 1006 }])
    })
    await t.test('shutdown terminating a peer that did not finish its close', async (t) => {
      const { ended, connection } = setup()
      connection.close(4003)
      connection.cutOff('shutdown')
      connection.socketClosed(1006)
      t.same(ended, [{ cause: 'shutdown', code: 1006 }])
    })
  },
)

t.test('once the socket closed, the connection is ended for good', async (t) => {
  const { socket, ended, connection } = setup()
  connection.socketClosed(1000)
  connection.socketClosed(1000)
  t.same(ended, [{ cause: 'client', code: 1000 }], 'the removal path runs once')
  connection.cutOff('heartbeat')
  connection.close(4003)
  t.equal(socket.terminated, 0, 'an ended connection is not terminated again')
  t.same(socket.closes, [])
  t.equal(connection.open, false)
  t.equal(connection.send({ type: 'late' }), false)
})

t.test('alive() clears a pending ping and records the time', async (t) => {
  const { connection } = setup()
  connection.awaitingPong = true
  connection.alive(5_000)
  t.equal(connection.awaitingPong, false)
  t.equal(connection.lastSeenAt, 5_000)
})

t.test('frames sent in one tick leave in one write, when the tick ends', async (t) => {
  const { socket, connection } = setup({}, new FakeWsSocket())
  const raw = socket._socket
  const frames = ['{"n":1}', '{"n":2}', '{"n":3}'].map((text) => TextFrame.of(text))
  for (const frame of frames) t.equal(connection.sendFrame(frame), true)
  t.equal(connection.send({ type: 'direct' }), true, 'a direct send joins the batch')
  t.equal(raw.corks, 1, 'corked once for the tick')
  t.same(raw.flushed, [], 'nothing written yet')
  t.same(socket.sent, [], 'ws itself was not asked to frame anything')
  await nextTick()
  t.equal(raw.uncorks, 1)
  t.same(raw.flushed, [
    Buffer.concat([...frames, TextFrame.of('{"type":"direct"}')].map((frame) => frame.wire)),
  ])
  connection.sendFrame(TextFrame.of('{"n":4}'))
  t.equal(raw.corks, 2, 'the next tick starts a new batch')
  await nextTick()
  t.same(raw.flushed[1], TextFrame.of('{"n":4}').wire)
})

t.test('a batch that grows past its bound is written without waiting for the tick', async (t) => {
  const { socket, connection } = setup({ maxBufferedBytes: 1 << 20 }, new FakeWsSocket())
  const raw = socket._socket
  const frame = TextFrame.of('x'.repeat(1000))
  const perBatch = Math.ceil(BATCH_FLUSH_BYTES / frame.wire.length)
  for (let i = 0; i < perBatch + 1; i++) connection.sendFrame(frame)
  t.equal(raw.flushed.length, 1, 'the first bound-sized batch went out at once')
  t.equal(raw.flushed[0]?.length, perBatch * frame.wire.length)
  t.equal(raw.corked, 1, 'the rest of the tick is batched again')
  await nextTick()
  t.equal(raw.flushed.length, 2)
  t.equal(raw.corked, 0)
})

t.test('a batch is not a backlog, and bytes an earlier tick left are', async (t) => {
  const { socket, clock, ended, connection } = setup({ sendTimeoutMs: 1_000 }, new FakeWsSocket())
  const raw = socket._socket
  connection.sendFrame(TextFrame.of('{"n":1}'))
  connection.sendFrame(TextFrame.of('{"n":2}'))
  t.equal(connection.backloggedSince, 0, 'bytes waiting for the end of the tick')
  raw.stuck = true
  await nextTick()
  t.ok(socket.bufferedAmount > 0, 'the peer did not read them')
  connection.sendFrame(TextFrame.of('{"n":3}'))
  t.equal(connection.backloggedSince, 1_000, 'what the earlier tick left starts the clock')
  await nextTick()
  clock.now = 2_000
  t.equal(connection.sendFrame(TextFrame.of('{"n":4}')), false, 'past the send timeout')
  t.equal(socket.terminated, 1)
  connection.socketClosed(1006)
  t.same(ended, [{ cause: 'slow_consumer', code: 1006 }])
})

t.test('the buffered-bytes bound counts what the tick already batched', async (t) => {
  const { socket, connection } = setup({ maxBufferedBytes: 100 }, new FakeWsSocket())
  t.equal(connection.send('x'.repeat(60)), true)
  t.equal(connection.send('x'.repeat(60)), false, '62 batched + 60 is past 100')
  t.equal(socket.terminated, 1)
})

t.test('while ws has sends queued, frames go through ws to keep their order', async (t) => {
  await t.test('a compression or a Blob read in progress', async (t) => {
    const socket = new FakeWsSocket()
    socket._sender._state = 1
    const { connection } = setup({}, socket)
    t.equal(connection.send({ type: 'a' }), true)
    t.same(
      socket.sent.map(({ frame }) => frame.toString()),
      ['{"type":"a"}'],
    )
    t.equal(socket._socket.corks, 0)
  })
  await t.test('a fragmented message half sent', async (t) => {
    const socket = new FakeWsSocket()
    socket._sender._firstFragment = false
    const { connection } = setup({}, socket)
    t.equal(connection.send({ type: 'b' }), true)
    t.equal(socket.sent.length, 1)
    t.equal(socket._socket.corks, 0)
  })
})

t.test('pauseReading: paused once, resumed when the time is up', async (t) => {
  const { socket, connection } = setup()
  connection.pauseReading(5)
  connection.pauseReading(5)
  t.same(socket.reading, ['pause'], 'already paused: no second pause, no second timer')
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.same(socket.reading, ['pause', 'resume'])
  connection.pauseReading(5)
  t.same(socket.reading, ['pause', 'resume', 'pause'], 'and can be paused again')
})

t.test('a connection that ends while paused is not resumed', async (t) => {
  const { socket, connection } = setup()
  connection.pauseReading(5)
  connection.socketClosed(1000)
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.same(socket.reading, ['pause'])
})

t.test('data: an empty object made when first read, unless given', async (t) => {
  const { connection } = setup()
  const data = connection.data
  t.same(data, {})
  t.equal(connection.data, data, 'the same object every time')
  connection.data = { room: 'x' }
  t.same(connection.data, { room: 'x' })
  const given = new LiveConnection<{ n: number }>({
    id: 'c2',
    principal: { userId: 'bob', permissions: [] },
    ip: '127.0.0.1',
    socket: new FakeSocket() as unknown as WebSocket,
    data: { n: 1 },
    host: { ...setup().connection.host } as unknown as ConnectionHost<{ n: number }>,
    burst: 1,
  })
  t.same(given.data, { n: 1 })
})

t.test('channels: none until the first join', async (t) => {
  const { connection } = setup()
  t.equal(connection.channels.size, 0)
  t.equal(connection.removeChannel('room'), false)
  t.equal(connection.addChannel('room'), true)
  t.equal(connection.addChannel('room'), false, 'already joined')
  t.same([...connection.channels], ['room'])
  t.equal(connection.removeChannel('room'), true)
  t.same([...connection.channels], [])
})

t.test("listen: the socket's events reach the connection and its host", async (t) => {
  const { socket, clock, ended, connection, received, errors } = setup()
  connection.listen()
  const other = setup()
  other.connection.listen()
  const data = Buffer.from('{"type":"x"}')
  socket.emit('message', data, false)
  t.same(received, [{ connection, data, isBinary: false }])
  t.same(other.received, [], 'each socket finds its own connection')
  connection.awaitingPong = true
  clock.now = 5_000
  socket.emit('pong')
  t.equal(connection.awaitingPong, false)
  t.equal(connection.lastSeenAt, 5_000)
  const error = new Error('read ECONNRESET')
  socket.emit('error', error)
  t.same(errors, [error])
  t.equal(socket.terminated, 1, 'an errored socket is cut off')
  socket.emit('close', 1006)
  t.same(ended, [{ cause: 'error', code: 1006 }])
})
