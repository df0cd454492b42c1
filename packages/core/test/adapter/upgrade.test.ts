import t from 'tap'
import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { PassThrough } from 'node:stream'
import WebSocket, { WebSocketServer } from 'ws'
import {
  ForbiddenError,
  RateLimitedError,
  UnauthorizedError,
  WardenError,
} from '../../src/errors.js'
import { MemorySessionStore } from '../../src/memory/index.js'
import { handleUpgrade, rejectUpgrade, toUpgradeRequest } from '../../src/adapter/upgrade.js'
import { createWarden } from '../../src/warden.js'
import { SECRET, until } from '../helpers/server.js'

/** What a request handler sees, reduced to what the core reads. */
function incoming(url: string | undefined, remoteAddress = '10.0.0.1'): IncomingMessage {
  return {
    url,
    headers: { origin: 'https://chat.example' },
    socket: { remoteAddress },
  } as unknown as IncomingMessage
}

/** Everything written to a socket until it ends. */
async function written(socket: PassThrough): Promise<string> {
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  await once(socket, 'end')
  return Buffer.concat(chunks).toString()
}

t.test('toUpgradeRequest keeps what admission reads', async (t) => {
  t.same(toUpgradeRequest(incoming('/ws?ws_token=abc')), {
    url: '/ws?ws_token=abc',
    headers: { origin: 'https://chat.example' },
    remoteAddress: '10.0.0.1',
  })
  t.equal(toUpgradeRequest(incoming(undefined)).url, '/', 'a request without a url')
  t.equal(toUpgradeRequest(incoming('/ws'), 'alice').userId, 'alice')
  t.notOk('userId' in toUpgradeRequest(incoming('/ws')), 'no userId key unless one is given')
  t.equal(toUpgradeRequest(incoming('/ws'), undefined, '198.51.100.7').frameworkIp, '198.51.100.7')
  t.notOk('frameworkIp' in toUpgradeRequest(incoming('/ws')), 'no frameworkIp unless one is given')
})

t.test('rejectUpgrade answers with a plain HTTP error and closes', async (t) => {
  const socket = new PassThrough()
  const response = written(socket)
  rejectUpgrade(socket, new UnauthorizedError('token_replayed', 'token already used'))
  t.equal(
    await response,
    [
      'HTTP/1.1 401 Unauthorized',
      'Connection: close',
      'Content-Type: application/json; charset=utf-8',
      'Content-Length: 26',
      '',
      '{"error":"token_replayed"}',
    ].join('\r\n'),
  )
  await until(() => socket.destroyed)
})

t.test('rejectUpgrade adds Retry-After where it applies', async (t) => {
  const limited = new PassThrough()
  const response = written(limited)
  rejectUpgrade(limited, new RateLimitedError(2_500))
  const text = await response
  t.match(text, /^HTTP\/1\.1 429 Too Many Requests\r\n/)
  t.match(text, /\r\nRetry-After: 3\r\n\r\n\{"error":"rate_limited"\}$/)
})

t.test('rejectUpgrade names an unknown status "Error"', async (t) => {
  const socket = new PassThrough()
  const response = written(socket)
  rejectUpgrade(socket, new WardenError('internal', 'custom', 599, 1011))
  t.match(await response, /^HTTP\/1\.1 599 Error\r\n/)
})

t.test('rejectUpgrade on a socket that can no longer be written just destroys it', async (t) => {
  const socket = new PassThrough()
  socket.end()
  let wrote = false
  socket.write = () => (wrote = true)
  rejectUpgrade(socket, new ForbiddenError())
  t.equal(socket.destroyed, true)
  t.equal(wrote, false)
})

t.test('handleUpgrade', async (t) => {
  const sessions = new MemorySessionStore()
  const added: string[] = []
  const add = sessions.add.bind(sessions)
  sessions.add = async (record, caps) => {
    added.push(record.userId)
    return add(record, caps)
  }
  const warden = createWarden({ tokens: { secret: SECRET }, stores: { sessions } })
  const wss = new WebSocketServer({ noServer: true, ...warden.wsOptions })
  t.teardown(async () => {
    await warden.close()
    wss.close()
  })

  await t.test('a rejected request gets its HTTP error; no socket is upgraded', async (t) => {
    const socket = new PassThrough()
    const response = written(socket)
    const result = await handleUpgrade(warden, wss, incoming('/ws'), socket, Buffer.alloc(0))
    t.equal(result, undefined)
    t.match(await response, /^HTTP\/1\.1 401 Unauthorized\r\n[^]*\{"error":"token_missing"\}$/)
  })

  await t.test('a client that hung up during admission frees its reservation', async (t) => {
    const { token } = await warden.issueToken({ userId: 'alice', permissions: [] })
    const socket = new PassThrough()
    const pending = handleUpgrade(
      warden,
      wss,
      incoming(`/ws?ws_token=${token}`),
      socket,
      Buffer.alloc(0),
    )
    socket.destroy()
    t.equal(await pending, undefined)
    t.same(added, ['alice'], 'admission had reserved a record')
    t.equal(warden.connectionsOf('alice').size, 0)
    await until(async () => (await sessions.count()) === 0)
    t.pass('the reserved record is removed')
  })

  await t.test('a handshake that ws refuses frees its reservation', async (t) => {
    const { token } = await warden.issueToken({ userId: 'carol', permissions: [] })
    const socket = new PassThrough()
    // No Upgrade/Sec-WebSocket-Key headers: ws answers 400 and destroys the socket.
    const result = await handleUpgrade(
      warden,
      wss,
      Object.assign(incoming(`/ws?ws_token=${token}`), { method: 'GET' }),
      socket,
      Buffer.alloc(0),
    )
    t.equal(result, undefined)
    t.equal(warden.connectionsOf('carol').size, 0)
    await until(async () => (await sessions.count({ userId: 'carol' })) === 0)
    t.pass('the reserved record is removed')
  })

  await t.test('an accepted socket without an onConnection callback', async (t) => {
    const server = createServer()
    server.on(
      'upgrade',
      (request, socket, head) => void handleUpgrade(warden, wss, request, socket, head),
    )
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    const { token } = await warden.issueToken({ userId: 'bob', permissions: [] })
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws?ws_token=${token}`)
    t.teardown(async () => {
      client.terminate()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })
    await once(client, 'open')
    await until(() => warden.connectionsOf('bob').size === 1)
    t.equal(await sessions.count({ userId: 'bob' }), 1)
  })
})

t.test('an accepted upgrade leaves no listener of ours on the raw socket', async (t) => {
  const { startServer } = await import('../helpers/server.js')
  const { connect, connections } = await startServer(t)
  await connect('alice')
  const { until } = await import('../helpers/server.js')
  await until(() => connections.length === 1)
  const raw = (connections[0] as unknown as { socket: { _socket: NodeJS.EventEmitter } }).socket
    ._socket
  const ours = raw.listeners('close').filter((listener) => listener.name === 'closedFirst')
  t.same(ours, [], 'the pre-upgrade close listener was removed')
})

t.test(
  'a handshake that ws completes later (async verifyClient) attaches and keeps no listener',
  async (t) => {
    const warden = createWarden({ tokens: { secret: SECRET } })
    const wss = new WebSocketServer({
      noServer: true,
      ...warden.wsOptions,
      verifyClient: (_info, done) => setImmediate(() => done(true)),
    })
    const server = createServer()
    const accepted: Promise<unknown>[] = []
    let raw: NodeJS.EventEmitter | undefined
    server.on('upgrade', (request, socket, head) => {
      raw = socket
      accepted.push(handleUpgrade(warden, wss, request, socket, head))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    const { token } = await warden.issueToken({ userId: 'dave', permissions: [] })
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws?ws_token=${token}`)
    t.teardown(async () => {
      client.terminate()
      await warden.close()
      wss.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })
    await once(client, 'open')
    t.ok(await accepted[0], 'handleUpgrade resolves to the connection')
    t.equal(warden.connectionsOf('dave').size, 1)
    const ours = raw?.listeners('close').filter((listener) => listener.name === 'closedFirst')
    t.same(ours, [], 'the pre-upgrade close listener was removed')
  },
)
