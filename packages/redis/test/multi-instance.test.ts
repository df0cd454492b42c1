import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { CloseCode } from '@ws-warden/core'
import WebSocket from 'ws'
import { REDIS_URL, deleteKeys, randomPrefix, sharedRedis, until } from './helpers/redis.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const PER_USER_ATTEMPTS = 3

/** The fixture imports the built dist: build it when a source file is newer. */
function buildIfStale(): void {
  let built = 0
  try {
    built = statSync(`${root}dist/index.js`).mtimeMs
  } catch {
    // Not built yet.
  }
  const sources = readdirSync(`${root}src`).map((file) => statSync(`${root}src/${file}`).mtimeMs)
  if (built >= Math.max(...sources)) return
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    encoding: 'utf8',
  })
  if (run.status !== 0) throw new Error(`build failed: ${run.stdout}${run.stderr}`)
}

/** One server process of the fixture, with its HTTP control API. */
class Instance {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(t: Test, prefix: string): Promise<Instance> {
    const child = spawn(process.execPath, [`${root}test/fixtures/server.mjs`], {
      cwd: root,
      env: {
        ...process.env,
        REDIS_URL,
        PREFIX: prefix,
        SECRET,
        PER_USER_ATTEMPTS: String(PER_USER_ATTEMPTS),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let errors = ''
    child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()))
    t.teardown(async () => {
      if (errors !== '') t.comment(`server stderr: ${errors}`)
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGKILL')
      await once(child, 'exit')
    })
    const lines = createInterface({ input: child.stdout! })
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the server did not start')), 10_000)
      child.once('exit', (code) => reject(new Error(`the server exited with ${code}`)))
      lines.once('line', (line) => {
        clearTimeout(timer)
        resolve((JSON.parse(line) as { port: number }).port)
      })
    })
    return new Instance(child, port)
  }

  async request<T>(path: string, body?: unknown): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    })
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
    return (await response.json()) as T
  }

  async token(user: string): Promise<string> {
    return (await this.request<{ token: string }>(`/token?user=${user}`)).token
  }

  /** Opens a client with a fresh token (or the one given). */
  async connect(user: string, token?: string): Promise<Client> {
    return Client.open(this.port, token ?? (await this.token(user)))
  }
}

/** A `ws` client that records what it receives. */
class Client {
  readonly messages: Record<string, unknown>[] = []
  status = 0
  readonly closed: Promise<number>

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => socket.on('close', (code) => resolve(code)))
    socket.on('message', (data) =>
      this.messages.push(JSON.parse(String(data)) as Record<string, unknown>),
    )
    socket.on('unexpected-response', (_request, response) => {
      this.status = response.statusCode ?? 0
      socket.terminate()
    })
    socket.on('error', () => {})
    t.teardown(() => socket.terminate())
  }

  static async open(port: number, token: string): Promise<Client> {
    const client = new Client(new WebSocket(`ws://127.0.0.1:${port}/ws?ws_token=${token}`))
    // Not events.once: it would reject on the 'error' that an aborted handshake emits.
    await new Promise((resolve) => client.socket.once('open', resolve).once('close', resolve))
    if (client.socket.readyState === WebSocket.OPEN) client.status = 101
    return client
  }

  of(type: string): Record<string, unknown>[] {
    return this.messages.filter((message) => message.type === type)
  }

  async join(channel: string): Promise<void> {
    this.socket.send(JSON.stringify({ type: 'join', channel }))
    await until(() => this.of('joined').some((m) => m.channel === channel), `joining ${channel}`)
  }
}

const redis = await sharedRedis(t)

if (redis !== undefined) {
  t.test('two instances over one Redis', async (t) => {
    buildIfStale()
    const prefix = randomPrefix()
    const [a, b] = await Promise.all([Instance.start(t, prefix), Instance.start(t, prefix)])
    // Teardowns run in order: the servers are gone before their keys are deleted.
    t.teardown(async () => void (await deleteKeys(redis, prefix)))
    const all: Client[] = []
    const connect = async (instance: Instance, user: string): Promise<Client> => {
      const client = await instance.connect(user)
      t.equal(client.status, 101, `${user} connects to the instance on port ${instance.port}`)
      all.push(client)
      return client
    }
    const aliceLaptop = await connect(a, 'alice')
    const alicePhone = await connect(b, 'alice')
    const bob = await connect(b, 'bob')
    const carol = await connect(a, 'carol')
    await aliceLaptop.join('room')
    await bob.join('room')

    let fences = 0
    /**
     * Sends a broadcast from both instances and waits until every client has both: anything sent
     * before it on the same path has arrived by then (Redis keeps a publisher's order).
     */
    const fence = async (): Promise<void> => {
      const id = ++fences
      await a.request('/send?to=all', { type: 'fence', id })
      await b.request('/send?to=all', { type: 'fence', id })
      const seen = (client: Client) => client.of('fence').filter((m) => m.id === id).length === 2
      await until(() => all.every(seen), `fence ${id}`)
    }
    const count = (client: Client, type: string): number => client.of(type).length

    t.test('a channel message reaches every member, on both instances, once', async (t) => {
      await a.request('/send?to=channel&name=room', { type: 'room-1' })
      await b.request('/send?to=channel&name=room', { type: 'room-2' })
      await fence()
      for (const type of ['room-1', 'room-2']) {
        t.equal(count(aliceLaptop, type), 1, `alice's laptop (A): ${type}`)
        t.equal(count(bob, type), 1, `bob (B): ${type}`)
        t.equal(count(alicePhone, type), 0, `alice's phone is not in the room: ${type}`)
        t.equal(count(carol, type), 0, `carol is not in the room: ${type}`)
      }
    })

    t.test("a user message reaches each of the user's connections once", async (t) => {
      await b.request('/send?to=user&name=alice', { type: 'for-alice' })
      await fence()
      t.equal(count(aliceLaptop, 'for-alice'), 1, 'laptop, on the other instance')
      t.equal(count(alicePhone, 'for-alice'), 1, 'phone, on the sending instance')
      t.equal(count(bob, 'for-alice'), 0)
      t.equal(count(carol, 'for-alice'), 0)
    })

    t.test('a broadcast reaches every client once', async (t) => {
      await a.request('/send?to=all', { type: 'news' })
      await fence()
      for (const client of all) t.equal(count(client, 'news'), 1)
    })

    t.test('stats count across instances', async (t) => {
      const expected = { connections: 4, users: 3, channels: { room: 2 } }
      t.same((await a.request<{ cluster: unknown }>('/stats')).cluster, expected)
      t.same((await b.request<{ cluster: unknown }>('/stats')).cluster, expected)
    })

    t.test('a token consumed on one instance is refused on the other', async (t) => {
      const token = await a.token('dave')
      const first = await Client.open(a.port, token)
      t.equal(first.status, 101)
      const replay = await Client.open(b.port, token)
      t.equal(replay.status, 401)
      first.socket.close()
      await first.closed
    })

    t.test('the connect rate limit is shared', async (t) => {
      const statuses: number[] = []
      for (const instance of [a, b, a, b]) {
        const client = await instance.connect('eve')
        statuses.push(client.status)
        client.socket.close()
        await client.closed
      }
      t.same(statuses, [101, 101, 101, 429], `${PER_USER_ATTEMPTS} attempts per user in all`)
    })

    t.test("disconnectUser closes the user's connections on every instance", async (t) => {
      await a.request('/disconnect?user=alice', {})
      const codes = await Promise.all([aliceLaptop.closed, alicePhone.closed])
      t.same(codes, [CloseCode.Forbidden, CloseCode.Forbidden])
      t.equal(bob.socket.readyState, WebSocket.OPEN, 'others stay')
      await until(async () => {
        const stats = await b.request<{ cluster: { connections: number } }>('/stats')
        return stats.cluster.connections === 2
      }, 'the records to go')
    })
  })
}
