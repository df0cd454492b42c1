import t from 'tap'
import type { Test } from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import WebSocket from 'ws'
import { Client, SECRET, clientsOf, until } from './helpers.js'
import { listening, run, within } from './processes.js'

/** A port nothing listens on (it did a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('a bad setting stops start-up with one line naming the variable, exit 1', async (t) => {
  const port = await closedPort()
  const cases: [Record<string, string>, RegExp][] = [
    [{ PORT: 'abc' }, /^ws-warden demo: PORT: must be an integer from 0 to 65535; got 'abc'\n$/],
    [{ WARDEN_ADAPTER: 'hapi' }, /^ws-warden demo: WARDEN_ADAPTER: must be one of fastify, /],
    [
      { WARDEN_STORE: 'redis', REDIS_URL: `redis://:hunter2@127.0.0.1:${port}` },
      new RegExp(
        `^ws-warden demo: REDIS_URL: cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\n$`,
      ),
    ],
  ]
  await Promise.all(
    cases.map(async ([env, line]) => {
      const demo = run(t, env)
      t.equal(await within(30_000, demo.exited), 1, JSON.stringify(env))
      t.match(demo.stderr(), line)
      t.notMatch(demo.stderr(), 'hunter2', 'no password in the message')
    }),
  )
})

const runs = [
  ['fastify', 'SIGTERM'],
  ['fastify', 'SIGINT'],
  ['express', 'SIGTERM'],
  ['koa', 'SIGINT'],
] as const
for (const [adapter, signal] of runs) {
  t.test(`${adapter}, ${signal}: clients get 1012, the process exits 0`, async (t) => {
    const demo = run(t, { WARDEN_TOKEN_SECRET: SECRET, WARDEN_ADAPTER: adapter })
    await within(
      20_000,
      until(() => /listening on http:\/\//.test(demo.stdout()), 20_000),
    )
    const base = /listening on (http:\/\/\S+)/.exec(demo.stdout())?.[1] ?? ''
    const login = await fetch(`${base}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"user":"alice"}',
    })
    const cookie = login.headers.get('set-cookie')?.split(';')[0] ?? ''
    const issued = await fetch(`${base}/api/ws-token`, { method: 'POST', headers: { cookie } })
    const { token } = (await issued.json()) as { token: string }
    const socket = new WebSocket(`${base.replace('http', 'ws')}/ws?ws_token=${token}`)
    t.teardown(() => socket.terminate())
    const client = await Client.start(socket)
    t.equal(client.status, 101)
    await client.next((m) => m.type === 'welcome')

    demo.child.kill(signal)
    t.equal((await within(10_000, client.closed)).code, 1012)
    t.equal(await within(10_000, demo.exited), 0)

    const lines = demo.stdout().split('\n')
    const printed = lines.indexOf(`ws-warden demo listening on ${base}`)
    const connected = lines.findIndex((line) => line.includes('"event":"connect"'))
    t.ok(printed >= 0 && printed < connected, 'the URL is printed, before any connection')
    const events = lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>]
      } catch {
        return []
      }
    })
    t.match(
      events.find((e) => e.event === 'connect'),
      { userId: 'alice', connections: 1 },
    )
    t.match(
      events.find((e) => e.event === 'disconnect'),
      { userId: 'alice', code: 1012 },
    )
    t.notOk(demo.stdout().includes(token), 'no log line carries the token')
  })
}

t.test('without WARDEN_TOKEN_SECRET a random secret is used, with a warning', async (t) => {
  const demo = run(t, {})
  await within(
    20_000,
    until(() => /WARDEN_TOKEN_SECRET is not set/.test(demo.stdout()), 20_000),
  )
  demo.child.kill('SIGTERM')
  t.equal(await within(10_000, demo.exited), 0)
})

/** A demo child process with `count` logged-in clients that have stopped reading. */
async function demoWithStalledClients(t: Test, count: number) {
  const demo = run(t, { WARDEN_TOKEN_SECRET: SECRET })
  const base = await listening(demo)
  const { connect } = clientsOf(t, base)
  const clients: Client[] = []
  for (let i = 0; i < count; i++) clients.push(await connect(`user${i}`))
  // A client that stops reading never completes the closing handshake: the drain waits for it
  // (up to the warden's 30 s shutdown timeout).
  const raw = (client: Client) => (client.socket as unknown as { _socket: Socket })._socket
  for (const client of clients) raw(client).pause()
  const resume = () => clients.forEach((client) => raw(client).resume())
  const logged = (pattern: string) =>
    within(
      10_000,
      until(() => demo.stdout().includes(pattern), 10_000),
    )
  return { demo, clients, resume, logged }
}

// A repeated SIGTERM (supervisors and npm forward signals), and a SIGTERM before or after one
// SIGINT (scripts/demo.mjs forwards Ctrl-C as SIGTERM, racing the terminal's own SIGINT).
const repeats = [
  ['SIGTERM', 'SIGTERM'],
  ['SIGTERM', 'SIGINT'],
  ['SIGINT', 'SIGTERM'],
] as const
for (const [first, second] of repeats) {
  t.test(
    `${first} then ${second} during the drain does not cut it short: 1012, exit 0`,
    async (t) => {
      const { demo, clients, resume, logged } = await demoWithStalledClients(t, 1)
      demo.child.kill(first)
      await logged('"event":"signal"')
      demo.child.kill(second)
      await logged('"draining":true')
      t.equal(demo.child.exitCode, null, `still draining after the ${second}`)
      resume()
      t.equal((await within(10_000, clients[0]!.closed)).code, 1012, 'the client gets its 1012')
      t.equal(await within(10_000, demo.exited), 0)
      t.equal(demo.stderr(), '')
    },
  )
}

t.test('a second SIGINT closes the remaining clients with 1012, then exits 0', async (t) => {
  const { demo, clients, resume, logged } = await demoWithStalledClients(t, 3)
  demo.child.kill('SIGINT')
  await logged('"event":"signal"')
  demo.child.kill('SIGINT')
  // The clients are still not reading: without the forced exit the drain would wait 30 s.
  t.equal(await within(10_000, demo.exited), 0, 'exits without waiting for the handshakes')
  t.match(demo.stdout(), '"forced":true')
  resume()
  const codes = await Promise.all(clients.map((client) => within(10_000, client.closed)))
  t.same(
    codes.map(({ code }) => code),
    [1012, 1012, 1012],
    'every client read its 1012 (sent by the drain or by the forced exit)',
  )
})

t.test('a port in use stops start-up with the reason, exit 1', async (t) => {
  const blocker = createServer()
  blocker.listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => blocker.close())
  const { port } = blocker.address() as AddressInfo
  const demo = run(t, { WARDEN_TOKEN_SECRET: SECRET, PORT: String(port) })
  t.equal(await within(20_000, demo.exited), 1)
  t.match(demo.stderr(), /^ws-warden demo: Error: listen EADDRINUSE/)
})
