import t from 'tap'
import { startDemo, until } from './helpers.js'

t.test('login sets an HttpOnly signed cookie; bad bodies get 400', async (t) => {
  const { http } = await startDemo(t)
  const ok = await http('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'alice' }),
  })
  t.equal(ok.status, 204)
  const cookie = ok.headers.get('set-cookie') ?? ''
  t.match(cookie, /^demo_session=alice\.[^;]+;/, 'signed')
  t.match(cookie, /HttpOnly/)
  for (const body of ['{"user":"Alice"}', '{"user":""}', '{"user":7}', '{}', '[]', 'null', '{']) {
    const response = await http('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })
    t.equal(response.status, 400, body)
  }
})

t.test('ws-token: 200 with the cookie, 401 without or with a forged one', async (t) => {
  const { http, login } = await startDemo(t)
  const cookie = await login('alice')
  const issued = await http('/api/ws-token', { method: 'POST', headers: { cookie } })
  t.equal(issued.status, 200)
  const body = (await issued.json()) as { token: string; expiresIn: number }
  t.type(body.token, 'string')
  t.equal(body.expiresIn, 60)
  t.equal((await http('/api/ws-token', { method: 'POST' })).status, 401)
  const forged = await http('/api/ws-token', {
    method: 'POST',
    headers: { cookie: 'demo_session=admin' },
  })
  t.equal(forged.status, 401)
})

t.test('two users on one browser: each tab asks for its own token', async (t) => {
  const { http } = await startDemo(t)
  let cookie = ''
  for (const user of ['alice', 'bob']) {
    const response = await http('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ user }),
    })
    cookie = response.headers.get('set-cookie')?.split(';')[0] ?? ''
  }
  const userOf = async (query: string) => {
    const response = await http(`/api/ws-token${query}`, { method: 'POST', headers: { cookie } })
    if (response.status !== 200) return response.status
    const { token } = (await response.json()) as { token: string }
    const payload = token.split('.')[1] ?? ''
    return (JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sub: string }).sub
  }
  t.equal(await userOf(''), 'bob', 'the most recent login by default')
  t.equal(await userOf('?user=alice'), 'alice')
  t.equal(await userOf('?user=carol'), 401, 'not logged in on this browser')
})

t.test('a token is single use: the replay gets 401 before the upgrade', async (t) => {
  const { login, token, open } = await startDemo(t)
  const cookie = await login('alice')
  const query = `?ws_token=${await token(cookie)}`
  t.equal((await open(query)).status, 101)
  t.equal((await open(query)).status, 401)
  t.equal((await open('')).status, 401, 'no token at all')
})

t.test("origins: the page's own by default, WARDEN_ALLOWED_ORIGINS when set", async (t) => {
  t.test('default', async (t) => {
    const { login, token, open, port } = await startDemo(t)
    const cookie = await login('alice')
    const own = await open(`?ws_token=${await token(cookie)}`, {
      origin: `http://127.0.0.1:${port}`,
    })
    t.equal(own.status, 101)
    const other = await open(`?ws_token=${await token(cookie)}`, { origin: 'http://evil.example' })
    t.equal(other.status, 403)
  })
  t.test('configured', async (t) => {
    const { login, token, open, port } = await startDemo(t, {
      WARDEN_ALLOWED_ORIGINS: 'https://chat.example, http://localhost:3000',
    })
    const cookie = await login('alice')
    const listed = await open(`?ws_token=${await token(cookie)}`, {
      origin: 'https://chat.example',
    })
    t.equal(listed.status, 101)
    const own = await open(`?ws_token=${await token(cookie)}`, {
      origin: `http://127.0.0.1:${port}`,
    })
    t.equal(own.status, 403, 'only the listed origins')
  })
})

t.test('the 21st attempt in a minute gets 429; a user may hold 5 connections', async (t) => {
  const { login, token, open, connect } = await startDemo(t)
  for (let i = 0; i < 5; i++) await connect('alice')
  const cookie = await login('alice')
  const sixth = await open(`?ws_token=${await token(cookie)}`, { cookie })
  t.equal(sixth.status, 429)
  t.equal(sixth.retryAfter, undefined)
  for (let attempt = 7; attempt <= 20; attempt++) t.equal((await open('')).status, 401)
  const limited = await open('')
  t.equal(limited.status, 429)
  t.ok(Number(limited.retryAfter) >= 1)
})

t.test('/api/stats counts connections, users and channel members', async (t) => {
  const { http, connect } = await startDemo(t)
  const stats = async () => (await (await http('/api/stats')).json()) as unknown
  t.same(await stats(), { connections: 0, users: 0, channels: {} })
  const alice = await connect('alice')
  await connect('alice')
  const bob = await connect('bob')
  await alice.request({ type: 'join', channel: 'general' }, 'joined')
  await bob.request({ type: 'join', channel: 'general' }, 'joined')
  await bob.request({ type: 'join', channel: 'random' }, 'joined')
  t.same(await stats(), { connections: 3, users: 2, channels: { general: 2, random: 1 } })
  bob.socket.close()
  await until(async () => ((await stats()) as { users: number }).users === 1)
  t.same(await stats(), { connections: 2, users: 1, channels: { general: 1 } })
})

t.test('/metrics is Prometheus text; /healthz is 200; / is the page', async (t) => {
  const { http, connect, open } = await startDemo(t)
  const alice = await connect('alice')
  await alice.request({ type: 'join', channel: 'general' }, 'joined')
  await open('')
  const metrics = await http('/metrics')
  t.equal(metrics.status, 200)
  t.match(metrics.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const text = await metrics.text()
  t.match(text, '# TYPE ws_warden_connections gauge\nws_warden_connections 1\n')
  t.match(text, 'ws_warden_handshakes_total{result="accepted"} 1\n')
  t.match(text, 'ws_warden_handshakes_total{result="rejected"} 1\n')
  t.match(text, 'ws_warden_handshakes_rejected_total{reason="token_missing"} 1\n')
  t.match(text, 'ws_warden_messages_received_total 1\n')
  t.match(text, 'ws_warden_admission_duration_seconds_count 2\n')
  t.match(text, 'ws_warden_cluster_connections 1\n')
  t.match(text, 'ws_warden_cluster_users 1\n')
  t.match(text, 'ws_warden_cluster_channels 1\n')
  t.notMatch(text, /alice|general/, 'no label carries a user or a channel')
  const comment = /^# (HELP|TYPE) ws_warden_\w+ .+$/
  const sample = /^ws_warden_\w+(\{\w+="[\w.+]+"(,\w+="[\w.+]+")*\})? \d+(\.\d+)?(e-?\d+)?$/
  for (const line of text.split('\n').filter((line) => line !== '')) {
    t.ok(comment.test(line) || sample.test(line), line)
  }
  t.equal((await http('/healthz')).status, 200)
  const page = await http('/')
  t.match(page.headers.get('content-type'), /^text\/html/)
  const html = await page.text()
  for (const id of [
    'login-name',
    'login-submit',
    'connection-status',
    'channel-name',
    'channel-join',
    'channel-leave',
    'message-text',
    'message-send',
    'message-log',
  ]) {
    t.match(html, `data-testid="${id}"`, id)
  }
})
