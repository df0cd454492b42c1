import t from 'tap'
import {
  CloseCode,
  PROTOCOL_VERSION,
  SUBPROTOCOL,
  SUBPROTOCOL_PREFIX,
  UNNEGOTIATED_VERSION,
  isWardenSubprotocol,
  parseSubprotocols,
  reconnectPolicy,
  subprotocolVersion,
} from '../src/index.js'
import type { SessionFrame } from '../src/index.js'

t.test('the subprotocol names its version', async (t) => {
  t.equal(PROTOCOL_VERSION, 1)
  t.equal(SUBPROTOCOL, 'ws-warden.v1')
  t.equal(SUBPROTOCOL_PREFIX, 'ws-warden.')
  t.equal(UNNEGOTIATED_VERSION, 0)
  t.equal(subprotocolVersion(SUBPROTOCOL), PROTOCOL_VERSION)
})

t.test('subprotocolVersion reads ws-warden.v<n>, and 0 for anything else', async (t) => {
  t.equal(subprotocolVersion('ws-warden.v1'), 1)
  t.equal(subprotocolVersion('ws-warden.v9'), 9)
  t.equal(subprotocolVersion('ws-warden.v12'), 12)
  for (const name of [
    undefined,
    '',
    'chat',
    'ws-warden.v0',
    'ws-warden.v01',
    'ws-warden.v',
    'ws-warden.v1.1',
    'ws-warden.vx',
    'ws-warden.v1234567',
    'WS-WARDEN.V1',
    ' ws-warden.v1',
    'x-ws-warden.v1',
  ]) {
    t.equal(subprotocolVersion(name), 0, String(name))
  }
})

t.test('the ws-warden namespace', async (t) => {
  t.equal(isWardenSubprotocol('ws-warden.v1'), true)
  t.equal(isWardenSubprotocol('ws-warden.v9'), true)
  t.equal(isWardenSubprotocol('ws-warden.anything'), true)
  t.equal(isWardenSubprotocol('chat.v1'), false)
  t.equal(isWardenSubprotocol('ws-warden'), false)
})

t.test('parseSubprotocols reads a Sec-WebSocket-Protocol header', async (t) => {
  t.same(parseSubprotocols(undefined), [])
  t.same(parseSubprotocols(''), [])
  t.same(parseSubprotocols('ws-warden.v1'), ['ws-warden.v1'])
  t.same(parseSubprotocols(' chat , ws-warden.v1,,'), ['chat', 'ws-warden.v1'])
  t.same(parseSubprotocols(['a, b', 'c']), ['a', 'b', 'c'], 'several header lines')
})

t.test('an unsupported subprotocol is terminal', async (t) => {
  t.equal(CloseCode.UnsupportedProtocol, 4006)
  t.equal(reconnectPolicy(CloseCode.UnsupportedProtocol), 'stop')
})

t.test("a $session frame's version is optional: old servers send none", async (t) => {
  const old: SessionFrame = { type: '$session', id: 's', resume: 'r', ttlMs: 1, resumed: false }
  const current: SessionFrame = { ...old, version: PROTOCOL_VERSION }
  t.equal(old.version ?? UNNEGOTIATED_VERSION, 0)
  t.equal(current.version, 1)
})
