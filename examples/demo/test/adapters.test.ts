import t from 'tap'
import { ADAPTERS } from '../src/config.js'
import { startDemo, unpositioned, until } from './helpers.js'

// The demo's main flow, on every adapter: the same app, the same answers.
for (const adapter of ADAPTERS) {
  t.test(adapter, async (t) => {
    const { http, login, token, open, connect, port, demo } = await startDemo(t, {
      WARDEN_ADAPTER: adapter,
    })
    const page = await http('/')
    t.equal(page.status, 200)
    t.match(page.headers.get('content-type'), /^text\/html/)
    t.equal((await http('/healthz')).status, 200)
    t.equal((await http('/api/ws-token', { method: 'POST' })).status, 401, 'no session, no token')
    const badLogin = await http('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"user":"Not Valid"}',
    })
    t.equal(badLogin.status, 400)

    const alice = await connect('alice')
    const bob = await connect('bob')
    for (const client of [alice, bob]) {
      t.same(await client.request({ type: 'join', channel: 'general' }, 'joined'), {
        type: 'joined',
        channel: 'general',
      })
    }
    alice.send({ type: 'say', channel: 'general', text: `hello from ${adapter}` })
    const said = {
      type: 'message',
      channel: 'general',
      from: 'alice',
      text: `hello from ${adapter}`,
    }
    t.same(unpositioned(await bob.next((m) => m.type === 'message')), said)
    t.same(unpositioned(await alice.next((m) => m.type === 'message')), said, 'the sender too')
    t.match(await bob.request({ type: 'join', channel: 'staff' }, 'error'), { code: 'forbidden' })
    t.match(await bob.request({ type: 'dance' }, 'error'), { code: 'unknown_type' })
    const stats = (await (await http('/api/stats')).json()) as unknown
    t.same(stats, { connections: 2, users: 2, channels: { general: 2 } })

    const cookie = await login('carol')
    const query = `?ws_token=${await token(cookie)}`
    t.equal((await open(query, { origin: 'http://evil.example' })).status, 403, 'foreign Origin')
    // The origin is checked before the token, so the refusal did not spend it.
    const carol = await open(query, { origin: `http://127.0.0.1:${port}` })
    t.equal(carol.status, 101, 'the same token from the own origin')
    carol.socket.close()
    await carol.closed
    await until(() => [...demo.warden.connections()].length === 2)
    t.equal((await open(query)).status, 401, 'replayed')
    t.equal((await open('')).status, 401, 'no token')
    const metrics = await (await http('/metrics')).text()
    t.match(metrics, 'ws_warden_handshakes_rejected_total{reason="token_missing"} 1\n')
    t.match(metrics, 'ws_warden_cluster_connections 2\n')

    await demo.close()
    t.same(
      await Promise.all([alice.closed, bob.closed].map(async (closed) => (await closed).code)),
      [1012, 1012],
    )
    await until(() => [...demo.warden.connections()].length === 0)
  })
}
