/**
 * The adapter conformance kit: the contract every framework adapter must keep, tested through
 * real sockets. It covers what an adapter itself does (the token endpoint, the HTTP answer to a
 * refused upgrade, the client IP it hands the core, logged URLs, shutdown), not the warden's
 * behaviour behind it, which the cross-adapter suites in `test/` cover.
 *
 * An adapter package runs it from one test file:
 *
 * ```ts
 * import t from 'tap'
 * import { adapterConformance } from '@ws-warden/testing'
 * adapterConformance(t, async ({ warden, trustProxy, log }) => ({ url, close }))
 * ```
 *
 * @module
 */
import type { Logger, Warden, WardenOptions } from '@ws-warden/core'
import type { IncomingMessage } from 'node:http'
import WebSocket from 'ws'
import type { Teardown } from './helpers.js'
import { Client, testWarden, tokenFor } from './helpers.js'

/** What the factory is given to build one app. */
export interface ConformanceSetup {
  /** The warden that governs the app's `/ws` route and signs its tokens. */
  readonly warden: Warden
  /**
   * Tell the framework to trust the proxy at 127.0.0.1 (Fastify `trustProxy`, Express
   * `app.set('trust proxy', ...)`, Koa `app.proxy`). The warden itself trusts none.
   */
  readonly trustProxy: boolean
  /** Call with the URL of every request the framework logs (its request log or access log). */
  readonly log: (url: string) => void
  /**
   * The application's own `ws` `handleProtocols`: pass it in the adapter's ws server options
   * (Fastify `websocket.options`, Express and Koa `wsOptions`). It selects `chat.v2` if offered.
   */
  readonly handleProtocols: (protocols: Set<string>, request: IncomingMessage) => string | false
}

/** A started app. */
export interface ConformanceApp {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  /** Closes the app the framework's way (`app.close()`, `server.close()`). */
  close(): Promise<void>
}

/**
 * Builds and starts an app with:
 * - `POST /ws-token`: the adapter's token endpoint; the user is the `x-user` header (a principal
 *   without permissions), none is anonymous;
 * - `GET /ws`: a governed route whose handler sends `{ type: 'welcome', user, ip }` (the
 *   connection's `userId` and `ip`).
 */
export type AdapterFactory = (setup: ConformanceSetup) => Promise<ConformanceApp>

/** An assertion's optional message, shaped as tap's `...[msg, extra]` accepts it. */
type Message = [] | [message: string]

/** The part of a test runner's test object the kit uses (tap's `t` fits). */
export interface ConformanceTest extends Teardown {
  test(name: string, fn: (t: ConformanceTest) => Promise<void>): unknown
  equal(found: unknown, wanted: unknown, ...message: Message): unknown
  same(found: unknown, wanted: unknown, ...message: Message): unknown
  match(found: unknown, pattern: unknown, ...message: Message): unknown
  ok(value: unknown, ...message: Message): unknown
}

interface Started {
  readonly warden: Warden
  readonly http: string
  readonly logged: readonly string[]
  readonly warnings: readonly object[]
  open(path: string, options?: WebSocket.ClientOptions, protocols?: string[]): Promise<Client>
  connect(user?: string, options?: WebSocket.ClientOptions, protocols?: string[]): Promise<Client>
  close(): Promise<void>
}

/** Records warnings; says nothing else. */
function recordingLogger(warnings: object[]): Logger {
  const noop = (): void => {}
  const logger: Logger = {
    debug: noop,
    info: noop,
    warn: (object) => void warnings.push(object),
    error: noop,
    child: () => logger,
  }
  return logger
}

async function start(
  t: ConformanceTest,
  factory: AdapterFactory,
  options: Partial<WardenOptions> = {},
  trustProxy = false,
): Promise<Started> {
  const warnings: object[] = []
  const warden = testWarden(t, { logger: recordingLogger(warnings), ...options })
  const logged: string[] = []
  const app = await factory({
    warden,
    trustProxy,
    log: (url) => void logged.push(url),
    handleProtocols: (protocols) => (protocols.has('chat.v2') ? 'chat.v2' : false),
  })
  const clients = new Set<WebSocket>()
  let closing: Promise<void> | undefined
  const close = () => (closing ??= app.close())
  t.teardown(async () => {
    for (const client of clients) client.terminate()
    await close()
  })
  const base = app.url.replace(/^http/, 'ws')
  const open = (
    path: string,
    clientOptions: WebSocket.ClientOptions = {},
    protocols?: string[],
  ) => {
    const socket = new WebSocket(`${base}${path}`, protocols ?? [], clientOptions)
    clients.add(socket)
    return Client.start(socket)
  }
  const connect = async (
    user = 'alice',
    clientOptions: WebSocket.ClientOptions = {},
    protocols?: string[],
  ) => open(`/ws?ws_token=${await tokenFor(warden, user)}`, clientOptions, protocols)
  return { warden, http: app.url, logged, warnings, open, connect, close }
}

const welcome = (message: Record<string, unknown>) => message.type === 'welcome'
const count = (warden: Warden) => [...warden.connections()].length

/**
 * Runs the conformance suite against an adapter, each check in its own subtest of `t`.
 */
export function adapterConformance(t: ConformanceTest, factory: AdapterFactory): void {
  t.test('the token endpoint: a token for a user, never cached; 401 for nobody', async (t) => {
    const { http, open } = await start(t, factory)
    const anonymous = await fetch(`${http}/ws-token`, { method: 'POST' })
    t.equal(anonymous.status, 401)
    t.match(anonymous.headers.get('content-type'), /^application\/json/)
    t.same(await anonymous.json(), { error: 'unauthorized' })
    const issued = await fetch(`${http}/ws-token`, {
      method: 'POST',
      headers: { 'x-user': 'alice' },
    })
    t.equal(issued.status, 200)
    t.equal(issued.headers.get('cache-control'), 'no-store')
    const body = (await issued.json()) as { token: string; expiresIn: number }
    t.same(Object.keys(body).sort(), ['expiresIn', 'token'])
    t.equal(body.expiresIn, 60, "the warden's token lifetime")
    const client = await open(`/ws?ws_token=${body.token}`)
    t.equal(client.status, 101, 'the token opens a connection')
    t.match(await client.next(welcome), { user: 'alice' })
  })

  t.test("a good token connects; the route's handler gets the connection", async (t) => {
    const { connect, warden } = await start(t, factory)
    const client = await connect('alice')
    t.equal(client.status, 101)
    t.same(await client.next(welcome), { type: 'welcome', user: 'alice', ip: '127.0.0.1' })
    t.same(
      [...warden.connections()].map((connection) => connection.userId),
      ['alice'],
    )
  })

  t.test('a missing, malformed or replayed token: 401 and its code, no upgrade', async (t) => {
    const { open, connect, warden } = await start(t, factory)
    const refusals: [string, string][] = [
      ['/ws', 'token_missing'],
      ['/ws?ws_token=', 'token_missing'],
      ['/ws?ws_token=not.a.token', 'token_invalid'],
      [`/ws?ws_token=${await tokenFor(warden, 'alice')}x`, 'token_invalid'],
    ]
    for (const [path, code] of refusals) {
      const client = await open(path)
      t.equal(client.status, 401, code)
      t.same(client.body, { error: code }, 'a JSON body')
      t.equal(client.retryAfter, undefined, 'no Retry-After')
    }
    const token = await tokenFor(warden, 'bob')
    t.equal((await open(`/ws?ws_token=${token}`)).status, 101)
    const replay = await open(`/ws?ws_token=${token}`)
    t.equal(replay.status, 401)
    t.same(replay.body, { error: 'token_replayed' })
    t.equal(count(warden), 1, 'only the first use connected')
    t.equal((await connect('carol')).status, 101, 'refusals leave the route working')
  })

  t.test('subprotocols: ws-warden.v1 selected; an old client still connects', async (t) => {
    const { connect, warden } = await start(t, factory, { resumption: true })
    const cases: [offered: string[], selected: string, version: number][] = [
      [['ws-warden.v1'], 'ws-warden.v1', 1],
      [['chat.v2', 'ws-warden.v1'], 'ws-warden.v1', 1],
      [['ws-warden.v9', 'ws-warden.v1'], 'ws-warden.v1', 1],
      [[], '', 0],
      [['chat.v2'], 'chat.v2', 0],
    ]
    for (const [offered, selected, version] of cases) {
      const what = `offered [${offered.join(', ')}]`
      const client = await connect('alice', {}, offered)
      t.equal(client.status, 101, what)
      t.equal(client.socket.protocol, selected, `${what}: selected "${selected}"`)
      const session = await client.next((message) => message.type === '$session')
      t.equal(session.version, version, `${what}: $session says ${version}`)
      t.match(await client.next(welcome), { user: 'alice' }, `${what}: the route's handler ran`)
    }
    t.equal(count(warden), cases.length)
  })

  t.test(
    'subprotocols: only unknown ws-warden versions offered is a 406; the token stays good',
    async (t) => {
      const { open, warden } = await start(t, factory)
      const path = `/ws?ws_token=${await tokenFor(warden, 'alice')}`
      const refused = await open(path, {}, ['ws-warden.v9'])
      t.equal(refused.status, 406)
      t.same(refused.body, { error: 'unsupported_protocol' })
      const accepted = await open(path, {}, ['ws-warden.v9', 'ws-warden.v1'])
      t.equal(accepted.status, 101, 'the refusal did not spend the token')
      t.equal(accepted.socket.protocol, 'ws-warden.v1')
    },
  )

  t.test('a rate limit: 429 rate_limited with Retry-After in whole seconds', async (t) => {
    const { open, connect } = await start(t, factory, { limits: { connectAttemptsPerIp: 2 } })
    t.equal((await open('/ws')).status, 401)
    t.equal((await connect('alice')).status, 101)
    const limited = await connect('bob')
    t.equal(limited.status, 429)
    t.same(limited.body, { error: 'rate_limited' })
    t.match(limited.retryAfter, /^[1-9]\d*$/)
    t.ok(Number(limited.retryAfter) <= 60, `Retry-After: ${limited.retryAfter}`)
  })

  t.test('origins: a refused Origin is a 403 before the upgrade', async (t) => {
    const listed = await start(t, factory, { origins: ['https://chat.example'] })
    const evil = await listed.connect('alice', { origin: 'https://evil.example' })
    t.equal(evil.status, 403)
    t.same(evil.body, { error: 'origin_not_allowed' })
    t.equal((await listed.connect('alice', { origin: 'https://chat.example' })).status, 101)

    const same = await start(t, factory, { origins: 'same-origin' })
    const own = new URL(same.http).origin
    t.equal((await same.connect('alice', { origin: own })).status, 101, 'the Host the app sees')
    t.equal((await same.connect('alice', { origin: 'http://127.0.0.2:1' })).status, 403)

    const seen: string[] = []
    const decided = await start(t, factory, {
      origins: (origin, request) => {
        seen.push(request.url.replace(/ws_token=[^&]*/, 'ws_token=*'))
        return origin === 'https://app.example'
      },
    })
    t.equal((await decided.connect('alice', { origin: 'https://app.example' })).status, 101)
    t.equal((await decided.connect('alice', { origin: 'https://other.example' })).status, 403)
    t.same(seen, ['/ws?ws_token=*', '/ws?ws_token=*'], 'the function sees the upgrade request')
  })

  t.test('the connect token never appears in a logged URL', async (t) => {
    const { open, warden, logged } = await start(t, factory)
    const token = await tokenFor(warden, 'alice')
    t.equal((await open(`/ws?ws_token=${token}&x=1`)).status, 101)
    t.equal((await open(`/ws?ws_token=${token}`)).status, 401, 'a refusal is logged too')
    t.equal((await open(`/ws?x=2&ws_token=${token}`)).status, 401)
    t.ok(logged.length >= 3, `${logged.length} URLs logged`)
    t.equal(logged.filter((url) => url.includes(token)).length, 0, 'no logged URL has the token')
    for (const url of ['/ws?ws_token=[redacted]&x=1', '/ws?x=2&ws_token=[redacted]']) {
      t.ok(logged.includes(url), `logged as ${url}`)
    }
  })

  t.test("closing the app closes every connection with the warden's close code", async (t) => {
    const { connect, warden, close } = await start(t, factory, {
      shutdown: { closeCode: 4000, drainMs: 0 },
    })
    const clients = [await connect('alice'), await connect('bob')]
    for (const client of clients) await client.next(welcome)
    await close()
    t.ok(warden.isClosing, 'the warden is shut down with the app')
    for (const client of clients) t.equal((await client.closed).code, 4000)
    // The shutdown the app started, awaited: the same report.
    t.match(await warden.close(), { closed: 2, terminated: 0, errors: 0 })
    t.equal(count(warden), 0)
  })

  t.test(
    'no proxy trusted: spoofed forwarding headers never change the rate-limit key',
    async (t) => {
      const { connect, open, warnings } = await start(t, factory, {
        limits: { connectAttemptsPerIp: 3 },
      })
      const first = await connect('alice', { headers: { 'x-forwarded-for': '198.51.100.1' } })
      t.same(await first.next(welcome), { type: 'welcome', user: 'alice', ip: '127.0.0.1' })
      t.equal((await open('/ws', { headers: { forwarded: 'for=198.51.100.2' } })).status, 401)
      const spoofed = { 'x-forwarded-for': '198.51.100.3', forwarded: 'for="[2001:db8::3]"' }
      t.equal((await open('/ws', { headers: spoofed })).status, 401)
      const limited = await connect('bob', { headers: { 'x-forwarded-for': '198.51.100.4' } })
      t.equal(limited.status, 429, 'every attempt counted against 127.0.0.1')
      t.same(warnings, [{ event: 'untrusted_forwarding_header', header: 'x-forwarded-for' }])
    },
  )

  t.test('the framework trusts the proxy: its resolved client IP is the key', async (t) => {
    const { connect, open, warnings } = await start(
      t,
      factory,
      { limits: { connectAttemptsPerIp: 1 } },
      true,
    )
    const a = { headers: { 'x-forwarded-for': '198.51.100.1' } }
    const client = await connect('alice', a)
    t.same(await client.next(welcome), { type: 'welcome', user: 'alice', ip: '198.51.100.1' })
    const b = await connect('bob', { headers: { 'x-forwarded-for': '198.51.100.2' } })
    t.equal(b.status, 101, 'another client behind the proxy has its own limit')
    t.equal((await open('/ws', a)).status, 429, "the first client's limit is spent")
    t.same(warnings, [], 'no warning: the framework trusts the proxy')
  })
}
