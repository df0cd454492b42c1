import t from 'tap'
import { Writable } from 'node:stream'
import { wardenFastify } from '../src/index.js'
import { testApp, testWarden, tokenFor, until } from './helpers.js'

t.test(
  'a governed connection: the handler gets the connection, messages reach the handlers',
  async (t) => {
    const warden = testWarden(t, {
      handlers: { echo: ({ message, reply }) => void reply({ type: 'echo', text: message.text }) },
    })
    const { app, listen, open } = testApp(t)
    await app.register(wardenFastify, { warden })
    app.get('/ws', { websocket: true, warden: true }, async (connection, request) => {
      // Async work in the handler: messages sent meanwhile are not lost.
      await new Promise((resolve) => setTimeout(resolve, 50))
      connection.send({ type: 'welcome', user: connection.userId, path: request.routeOptions.url })
    })
    const base = await listen()
    const client = await open(`${base}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
    t.equal(client.status, 101)
    client.send({ type: 'echo', text: 'early' })
    t.same(await client.next((m) => m.type === 'echo'), { type: 'echo', text: 'early' })
    t.same(await client.next((m) => m.type === 'welcome'), {
      type: 'welcome',
      user: 'alice',
      path: '/ws',
    })
    t.same(
      [...warden.connections()].map((c) => c.userId),
      ['alice'],
    )
    client.send('{not json')
    t.match(await client.next((m) => m.type === 'error'), { code: 'bad_json' })
  },
)

t.test('a handler that throws goes to websocket.errorHandler', async (t) => {
  const warden = testWarden(t)
  const { app, listen, open } = testApp(t)
  const errors: string[] = []
  await app.register(wardenFastify, {
    warden,
    websocket: {
      errorHandler: (error, socket) => {
        errors.push(error.message)
        socket.close(4000)
      },
    },
  })
  app.get('/ws', { websocket: true, warden: true }, () => {
    throw new Error('boom')
  })
  const client = await open(`${await listen()}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
  t.equal((await client.closed).code, 4000)
  t.same(errors, ['boom'])
})

t.test("the warden's message size limit applies, not ws's 100 MiB default", async (t) => {
  const warden = testWarden(t, { limits: { maxMessageBytes: 1024 } })
  const { app, listen, open } = testApp(t)
  await app.register(wardenFastify, { warden })
  app.get('/ws', { websocket: true, warden: true }, () => {})
  const client = await open(`${await listen()}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
  client.send(JSON.stringify({ type: 'big', text: 'x'.repeat(2048) }))
  t.equal((await client.closed).code, 1009)
  t.equal(app.websocketServer.options.perMessageDeflate, false)
})

t.test('app.close() shuts the warden down: clients get 1012, and it returns', async (t) => {
  const warden = testWarden(t, { shutdown: { drainMs: 0, timeoutMs: 2_000 } })
  const { app, listen, open } = testApp(t)
  await app.register(wardenFastify, { warden })
  app.get('/ws', { websocket: true, warden: true }, () => {})
  app.get('/plain', { websocket: true }, () => {})
  const base = await listen()
  const first = await open(`${base}/ws?ws_token=${await tokenFor(warden, 'alice')}`)
  const second = await open(`${base}/ws?ws_token=${await tokenFor(warden, 'bob')}`)
  const ungoverned = await open(`${base}/plain`)
  t.equal(ungoverned.status, 101, 'routes without the warden option stay plain websocket routes')
  await app.close()
  t.ok(warden.isClosing)
  t.equal((await first.closed).code, 1012)
  t.equal((await second.closed).code, 1012)
  t.equal((await ungoverned.closed).code, 1001, 'sockets the warden does not know are closed too')
  t.same(await warden.close(), await warden.close(), 'closing again is harmless')
})

t.test('the warden is closed with the app even before it listens', async (t) => {
  const warden = testWarden(t)
  const { app } = testApp(t)
  await app.register(wardenFastify, { warden })
  await app.ready()
  await app.close()
  t.ok(warden.isClosing)
})

t.test('request logs never carry the connect token', async (t) => {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  const warden = testWarden(t)
  const { app, listen, open } = testApp(t, { logger: { level: 'info', stream } })
  await app.register(wardenFastify, { warden })
  app.get('/ws', { websocket: true, warden: true }, () => {})
  const own = (request: { url: string }) => ({ own: request.url.length })
  app.get('/custom', { websocket: true, warden: true, logSerializers: { req: own } }, () => {})
  const base = await listen()
  const token = await tokenFor(warden, 'alice')
  t.equal((await open(`${base}/ws?ws_token=${token}&x=1`)).status, 101)
  t.equal((await open(`${base}/ws?ws_token=${token}`)).status, 401, 'a replay is logged too')
  await open(`${base}/custom?ws_token=${await tokenFor(warden, 'carol')}`)
  await until(() => lines.filter((line) => line.includes('incoming request')).length === 3)
  const log = lines.join('')
  t.notOk(log.includes(token), 'no token in any log line')
  t.match(log, '"url":"/ws?ws_token=[redacted]"')
  t.match(log, '"url":"/ws?ws_token=[redacted]&x=1"')
  t.match(log, '"req":{"own":', "a route's own request serializer is kept")
})
