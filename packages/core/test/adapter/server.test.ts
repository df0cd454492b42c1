import t from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import { closeSockets, governedWss } from '../../src/adapter/server.js'
import { createWarden } from '../../src/warden.js'
import { SECRET } from '../helpers/server.js'

t.test("governedWss: noServer, the warden's limits over yours, your other options", async (t) => {
  const warden = createWarden({ tokens: { secret: SECRET }, limits: { maxMessageBytes: 1_000 } })
  t.teardown(() => warden.close())
  const handleProtocols = (protocols: Set<string>) => (protocols.has('chat') ? 'mine' : false)
  const wss = governedWss(warden, {
    handleProtocols,
    maxPayload: 5,
    clientTracking: false,
  } as never)
  t.equal(wss.options.noServer, true)
  t.equal(wss.options.maxPayload, 1_000)
  t.equal(wss.options.perMessageDeflate, false)
  t.equal(wss.options.clientTracking, false)
  const select = wss.options.handleProtocols as typeof handleProtocols
  t.equal(select(new Set(['chat'])), 'mine', 'yours decides among your names')
  t.equal(select(new Set(['chat', 'ws-warden.v1'])), 'ws-warden.v1', 'the warden takes its own')
  const plain = governedWss(warden)
  t.equal(plain.options.maxPayload, 1_000, 'no options')
  // warden.wsOptions turns ws's tracking off; an adapter's server keeps it (closeSockets).
  t.equal(warden.wsOptions.clientTracking, false)
  t.equal(plain.options.clientTracking, true, 'ws tracks the clients of an adapter server')
  plain.close()
  wss.close()
})

t.test('closeSockets: the warden first, then 1001 to sockets it does not know', async (t) => {
  const calls: string[] = []
  const wss = governedWss({ wsOptions: { maxPayload: 1_024, perMessageDeflate: false } })
  const server = createServer()
  server.on('upgrade', (request, socket, head) =>
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws)),
  )
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`)
  await once(client, 'open')
  const closed = once(client, 'close')
  const wssClosed = once(wss, 'close')
  await closeSockets(
    {
      close: async () => {
        calls.push('warden')
        return { closed: 0, terminated: 0, errors: 0, durationMs: 0 } as never
      },
    },
    wss,
  )
  t.same(calls, ['warden'])
  const [code] = (await closed) as [number]
  t.equal(code, 1001)
  await wssClosed // the ws server is closed
})

t.test('closeSockets closes the ws server even if the warden fails to close', async (t) => {
  const wss = governedWss({ wsOptions: { maxPayload: 1_024, perMessageDeflate: false } })
  let closedWss = false
  wss.on('close', () => (closedWss = true))
  await t.rejects(
    closeSockets({ close: () => Promise.reject(new Error('store down')) }, wss),
    /store down/,
  )
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(closedWss)
})

t.test('closeSockets on a ws server that does not track its clients', async (t) => {
  const wss = governedWss(
    { wsOptions: { maxPayload: 1_024, perMessageDeflate: false } },
    { clientTracking: false },
  )
  t.equal(wss.clients, undefined)
  let closedWss = false
  wss.on('close', () => (closedWss = true))
  let wardenClosed = false
  await closeSockets(
    {
      close: async () => {
        wardenClosed = true
        return { closed: 0, terminated: 0, errors: 0, durationMs: 0 } as never
      },
    },
    wss,
  )
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(wardenClosed && closedWss, 'the warden, then the ws server')
})
