import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { REDIS_URL, until } from './redis.js'

// Server processes of the fixture (test/fixtures/server.mjs) sharing one Redis, and a bare `ws`
// client for them.

const root = fileURLToPath(new URL('../..', import.meta.url))
export const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'

/** The fixture imports the built dist: build it when a source file is newer. */
export function buildIfStale(): void {
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
export class Instance {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /**
   * Starts a server process, killed (SIGKILL) in `t`'s teardown; `env` adds to its environment
   * (PER_USER_ATTEMPTS, RESUMPTION: see the fixture).
   */
  static async start(
    t: Test,
    prefix: string,
    env: Readonly<Record<string, string>> = {},
  ): Promise<Instance> {
    const child = spawn(process.execPath, [`${root}test/fixtures/server.mjs`], {
      cwd: root,
      env: { ...process.env, REDIS_URL, PREFIX: prefix, SECRET, ...env },
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

  /** The WebSocket endpoint, without a token. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`
  }

  /** Kills the process the hard way (a crashed instance); resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.kill('SIGKILL')
    await exited
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
export class Client {
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
