import t from 'tap'
import { createWarden, handleUpgrade } from '@ws-warden/core'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer } from 'ws'
import { createRedisStores, type RedisStores } from '../src/index.js'
import { randomPrefix, startOwnRedis, until } from './helpers/redis.js'

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
/** The warden's default store timeout: a store must answer (or fail) before the core gives up. */
const STORE_TIMEOUT_MS = 2000

/** Resolves with how `promise` settled; fails if it does not settle within `ms` (a hang). */
async function settle<T>(
  promise: Promise<T>,
  ms = STORE_TIMEOUT_MS,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)
  })
  try {
    return { ok: true, value: await Promise.race([promise, hang]) }
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('still pending')) throw error
    return { ok: false, error }
  } finally {
    clearTimeout(timer)
  }
}

async function wsClient(
  url: string,
): Promise<{ socket: WebSocket; status: number; got: string[] }> {
  const socket = new WebSocket(url)
  const client = { socket, status: 0, got: [] as string[] }
  socket.on('message', (data) => client.got.push(String(data)))
  socket.on('unexpected-response', (_request, response) => {
    client.status = response.statusCode ?? 0
    socket.terminate()
  })
  socket.on('error', () => {})
  t.teardown(() => socket.terminate())
  // Not events.once: it would reject on the 'error' that an aborted handshake emits.
  await new Promise((resolve) => socket.once('open', resolve).once('close', resolve))
  if (socket.readyState === WebSocket.OPEN) client.status = 101
  return client
}

const { redis, skip } = await startOwnRedis()

t.test('Redis goes away and comes back', { skip }, async (t) => {
  t.teardown(() => redis.stop())
  const prefix = randomPrefix()
  const errors: unknown[] = []
  const onError = (error: unknown): void => void errors.push(error)
  const options = { url: redis.url, prefix, onError, connectTimeoutMs: 1000 }
  const stores: RedisStores = await createRedisStores(options)
  const open = await createRedisStores({ ...options, rateLimitFailOpen: true })
  t.teardown(() => Promise.all([stores.close(), open.close()]))

  const warden = createWarden({ tokens: { secret: SECRET }, stores, heartbeat: false })
  await warden.ready()
  const wss = new WebSocketServer({ noServer: true, ...warden.wsOptions })
  const http = createServer((_request, response) => response.writeHead(404).end())
  http.on(
    'upgrade',
    (request, socket, head) => void handleUpgrade(warden, wss, request, socket, head),
  )
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  t.teardown(async () => {
    await warden.close()
    wss.close()
    http.closeAllConnections()
    await new Promise((resolve) => http.close(resolve))
  })
  const wsUrl = async (user: string): Promise<string> => {
    const { token } = await warden.issueToken({ userId: user, permissions: [] })
    return `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws?ws_token=${token}`
  }

  const live = await wsClient(await wsUrl('alice'))
  t.equal(live.status, 101, 'a connection while Redis is up')
  const news: string[] = []
  await stores.broker.subscribe('news', (payload) => news.push(payload))
  await stores.broker.publish('news', 'before')
  await until(() => news.includes('before'), 'the first delivery')

  await redis.stop()
  await until(() => errors.length > 0, 'an error report')
  t.pass('the process survived; errors went to onError')

  const record = {
    id: 'conn-x',
    userId: 'u',
    instanceId: 'i',
    ip: '192.0.2.1',
    channels: [],
    connectedAt: Date.now(),
    lastSeenAt: Date.now(),
  }
  const resumable = {
    id: 'session-x',
    userId: 'u',
    credentialHash: 'h',
    state: '{}',
    expiresAt: Date.now() + 60_000,
  }
  const calls: [string, () => Promise<unknown>][] = [
    ['sessions.add', () => stores.sessions.add(record)],
    ['sessions.get', () => stores.sessions.get('conn-x')],
    ['sessions.stats', () => stores.sessions.stats()],
    ['sessions.touch', () => stores.sessions.touch(['conn-x'], Date.now())],
    ['tokens.consume', () => stores.tokens.consume('jti-x', Date.now() + 60_000)],
    ['rateLimits.hit', () => stores.rateLimits.hit('k', 5, 60_000)],
    ['locks.acquire', () => stores.locks.acquire('sweep', 1000)],
    ['history.append', () => stores.history.append('all', '{}', { maxLength: 5, ttlMs: 1000 })],
    ['history.read', () => stores.history.read('all', 0)],
    ['history.head', () => stores.history.head('all')],
    ['history.sweep', () => stores.history.sweep(Date.now())],
    ['resumes.save', () => stores.resumes.save(resumable)],
    ['resumes.update', () => stores.resumes.update(resumable)],
    ['resumes.claim', () => stores.resumes.claim('session-x', 'h')],
    ['resumes.touch', () => stores.resumes.touch(['session-x'], Date.now() + 60_000)],
    ['resumes.remove', () => stores.resumes.remove('session-x')],
    ['resumes.sweep', () => stores.resumes.sweep(Date.now())],
    ['broker.publish', () => stores.broker.publish('news', 'lost')],
    ['broker.subscribe', () => stores.broker.subscribe('other', () => {})],
  ]
  for (const [name, call] of calls) {
    const outcome = await settle(call())
    t.equal(outcome.ok, false, `${name} rejects, and does not hang`)
  }
  t.same(
    (await settle(open.rateLimits.hit('k', 5, 60_000))) as unknown,
    { ok: true, value: { allowed: true, remaining: 0, retryAfterMs: 0 } },
    'a fail-open rate limit allows',
  )

  const refused = await wsClient(await wsUrl('bob'))
  t.equal(refused.status, 503, 'admission fails closed')
  t.equal(live.socket.readyState, WebSocket.OPEN, 'the live connection stays up')
  const during = await settle(warden.broadcast({ type: 'during-outage' }))
  t.equal(during.ok, false, 'a fan-out the broker cannot take is refused, here too')

  await redis.start()
  let sent = 0
  await until(
    async () => {
      await stores.broker.publish('news', `after-${++sent}`).catch(() => {})
      return news.some((payload) => payload.startsWith('after-'))
    },
    'the broker to resubscribe and deliver',
    20_000,
  )
  await stores.broker.publish('news', 'fence')
  await until(() => news.includes('fence'), 'the fence')
  const after = news.filter((payload) => payload.startsWith('after-'))
  t.same(after, [...new Set(after)], 'each payload delivered once')
  t.notOk(news.includes('lost'), 'what was published during the outage is lost')

  await warden.broadcast({ type: 'fence-frame' })
  await until(() => live.got.some((frame) => frame.includes('fence-frame')), 'fan-out again')
  t.notOk(
    live.got.some((frame) => frame.includes('during-outage')),
    'the refused fan-out was delivered nowhere, not even locally',
  )

  t.same(await stores.sessions.add(record), { ok: true }, 'the stores work again')
  t.equal(await stores.tokens.consume('jti-y', Date.now() + 60_000), true)
  t.equal((await stores.rateLimits.hit('k2', 5, 60_000)).allowed, true)
  t.ok((await stores.history.append('all', '{}', { maxLength: 5, ttlMs: 1000 })) > 0)
  await stores.resumes.save(resumable)
  t.equal((await stores.resumes.claim('session-x', 'h'))?.userId, 'u')
  const back = await wsClient(await wsUrl('carol'))
  t.equal(back.status, 101, 'admission works again')
})
