import t from 'tap'
import type { WebSocket } from 'ws'
import type { ConnectionHost } from '../src/connection.js'
import { LiveConnection } from '../src/connection.js'
import type { DisconnectInfo } from '../src/types.js'

const OPEN = 1
const CLOSING = 2

/** The part of a `ws` socket a connection uses, with the buffer under the test's control. */
class FakeSocket {
  readyState = OPEN
  bufferedAmount = 0
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
}

function setup(limits: { maxBufferedBytes?: number; sendTimeoutMs?: number } = {}) {
  const socket = new FakeSocket()
  const clock = { now: 1_000 }
  const ended: DisconnectInfo[] = []
  const host: ConnectionHost<{ room?: string }> = {
    maxBufferedBytes: limits.maxBufferedBytes ?? 1_024,
    sendTimeoutMs: limits.sendTimeoutMs ?? 1_000,
    now: () => clock.now,
    ended: (_connection, cause, code) => ended.push({ cause, code }),
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
  return { socket, clock, ended, connection }
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
    t.equal(connection.sendFrame(Buffer.from('{"type":"shared"}')), true)
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
