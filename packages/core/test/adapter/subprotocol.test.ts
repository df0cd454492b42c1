// Subprotocol negotiation: the selection a governed ws server makes, the admission check that
// refuses unsupported ws-warden versions, and both over real sockets with the version in `$session`.
import t from 'tap'
import type { Test } from 'tap'
import type { IncomingMessage } from 'node:http'
import type { SessionFrame } from '@ws-warden/protocol'
import WebSocket from 'ws'
import { checkSubprotocols, selectSubprotocol } from '../../src/adapter/subprotocol.js'
import { UnsupportedProtocolError } from '../../src/errors.js'
import { Client, startServer, until } from '../helpers/server.js'

const request = {} as IncomingMessage

t.test('ws-warden.v1 is selected whenever offered; the app is not asked', async (t) => {
  const asked: string[][] = []
  const app = (protocols: Set<string>) => {
    asked.push([...protocols])
    return 'chat'
  }
  for (const select of [selectSubprotocol(), selectSubprotocol(app)]) {
    t.equal(select(new Set(['ws-warden.v1']), request), 'ws-warden.v1')
    t.equal(select(new Set(['chat', 'ws-warden.v9', 'ws-warden.v1']), request), 'ws-warden.v1')
  }
  t.same(asked, [])
})

t.test('without ws-warden.v1, the app chooses among its own names only', async (t) => {
  const asked: string[][] = []
  const seen: IncomingMessage[] = []
  const select = selectSubprotocol((protocols, req) => {
    asked.push([...protocols])
    seen.push(req)
    return protocols.has('chat.v2') ? 'chat.v2' : false
  })
  t.equal(select(new Set(['ws-warden.v9', 'chat.v1', 'chat.v2']), request), 'chat.v2')
  t.equal(select(new Set(['chat.v1']), request), false, "the app's false: none")
  t.equal(select(new Set(['ws-warden.v9']), request), false, 'nothing of its own: not asked')
  t.same(asked, [['chat.v1', 'chat.v2'], ['chat.v1']], 'ws-warden names set aside')
  t.equal(seen[0], request, 'the request, as ws passes it')
})

t.test("without an app handler, ws's default among the app's names: the first", async (t) => {
  const select = selectSubprotocol()
  t.equal(select(new Set(['ws-warden.v9', 'chat.v1', 'chat.v2']), request), 'chat.v1')
  t.equal(select(new Set(['ws-warden.v9', 'ws-warden.v2']), request), false)
})

t.test(
  'admission refuses an offer made only of ws-warden versions it does not speak',
  async (t) => {
    const headers = (value?: string | string[]) =>
      value === undefined ? {} : { 'sec-websocket-protocol': value }
    for (const passes of [
      undefined,
      '',
      'ws-warden.v1',
      'ws-warden.v9, ws-warden.v1',
      'chat',
      'ws-warden.v9, chat',
    ]) {
      t.doesNotThrow(() => checkSubprotocols(headers(passes)), String(passes))
    }
    for (const refused of ['ws-warden.v9', 'ws-warden.v2, ws-warden.v3', ['ws-warden.x']]) {
      t.throws(() => checkSubprotocols(headers(refused)), UnsupportedProtocolError, String(refused))
    }
    const error = (() => {
      try {
        checkSubprotocols(headers('ws-warden.v9,ws-warden.v8'))
      } catch (caught) {
        return caught as UnsupportedProtocolError
      }
    })()
    t.same(error?.offered, ['ws-warden.v9', 'ws-warden.v8'])
  },
)

/** Opens a ws client offering `protocols` (none: an old client). */
function offering(t: Test, url: string, protocols: string[] | undefined): Promise<Client> {
  const socket = protocols ? new WebSocket(url, protocols) : new WebSocket(url)
  t.teardown(() => socket.terminate())
  return Client.start(socket)
}

t.test('over real sockets: the version negotiated, in the handshake and in $session', async (t) => {
  const server = await startServer(t, { resumption: true })
  const token = async () =>
    (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const sessionOf = async (client: Client) =>
    (await client.next((m) => m.type === '$session')) as unknown as SessionFrame

  const current = await offering(t, `${server.url}?ws_token=${await token()}`, ['ws-warden.v1'])
  t.equal(current.status, 101)
  t.equal(current.socket.protocol, 'ws-warden.v1')
  t.equal((await sessionOf(current)).version, 1)

  const old = await offering(t, `${server.url}?ws_token=${await token()}`, undefined)
  t.equal(old.status, 101, 'a client that offers nothing still connects')
  t.equal(old.socket.protocol, '')
  t.equal((await sessionOf(old)).version, 0, 'version 0: nothing negotiated')

  const app = await offering(t, `${server.url}?ws_token=${await token()}`, ['ws-warden.v9', 'chat'])
  t.equal(app.status, 101)
  t.equal(app.socket.protocol, 'chat', "an app's own name, as ws selects it by default")
  t.equal((await sessionOf(app)).version, 0)
})

t.test('over real sockets: only ws-warden.v9 offered is a 406 that keeps the token', async (t) => {
  const rejected: string[] = []
  const server = await startServer(t, {
    hooks: { onReject: ({ error }) => void rejected.push(error.code) },
  })
  const { token } = await server.warden.issueToken({ userId: 'alice', permissions: [] })
  const url = `${server.url}?ws_token=${token}`
  const refused = await offering(t, url, ['ws-warden.v9'])
  t.equal(refused.status, 406)
  t.same(rejected, ['unsupported_protocol'])
  const retried = await offering(t, url, ['ws-warden.v9', 'ws-warden.v1'])
  t.equal(retried.status, 101, 'the token was not spent on the refusal')
  t.equal(retried.socket.protocol, 'ws-warden.v1')
  t.equal(server.connections.length, 1)
})

t.test("a resumed session's $session has the version of the new connection", async (t) => {
  const server = await startServer(t, { resumption: true })
  const token = async () =>
    (await server.warden.issueToken({ userId: 'alice', permissions: [] })).token
  const sessionOf = async (client: Client) =>
    (await client.next((m) => m.type === '$session')) as unknown as SessionFrame
  const old = await offering(t, `${server.url}?ws_token=${await token()}`, undefined)
  const first = await sessionOf(old)
  t.equal(first.version, 0)
  old.socket.terminate()
  await until(() => server.connections[0]?.open === false)
  const resume = `ws_resume=${first.id}.${first.resume}`
  const back = await offering(t, `${server.url}?ws_token=${await token()}&${resume}`, [
    'ws-warden.v1',
  ])
  t.match(await sessionOf(back), { resumed: true, id: first.id, version: 1 })
})
