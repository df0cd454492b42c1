import type { ChildProcess } from 'node:child_process'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

interface Reply {
  readonly id?: number | undefined
  readonly ready?: unknown
  readonly result?: unknown
  readonly error?: string
}

const benchDir = fileURLToPath(new URL('..', import.meta.url))

/**
 * A worker process (a server under test or a group of clients), driven by request/reply
 * messages over the IPC channel. Every request has a deadline; `stop()` kills the process.
 */
export class Worker {
  private nextId = 1
  private readonly pending = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void }
  >()
  private exited = false

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (message: Reply) => {
      if (message.id === undefined) return
      const waiter = this.pending.get(message.id)
      if (!waiter) return
      this.pending.delete(message.id)
      if (message.error !== undefined) waiter.reject(new Error(`${name}: ${message.error}`))
      else waiter.resolve(message.result)
    })
    child.on('exit', (code, signal) => {
      this.exited = true
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`${name} exited (${code ?? signal ?? '?'})`))
      }
      this.pending.clear()
    })
  }

  /** Forks `workers/<script>.ts` with `config` and resolves once it reports ready. */
  static async start<TReady>(
    script: 'server' | 'clients',
    name: string,
    config: unknown,
    timeoutMs = 30_000,
    /** Node flags for this process only (`--single-threaded-gc`, say). */
    nodeFlags: readonly string[] = [],
  ): Promise<{ worker: Worker; ready: TReady }> {
    const child = fork(
      fileURLToPath(new URL(`./workers/${script}.ts`, import.meta.url)),
      [JSON.stringify(config)],
      {
        cwd: benchDir,
        execArgv: [
          '--import',
          'tsx',
          '--expose-gc',
          '--max-old-space-size=2048',
          // Extra flags for server processes only (`--cpu-prof`, say, for a whole-process profile).
          ...(script === 'server'
            ? (process.env.WSW_BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean)
            : []),
          ...nodeFlags,
        ],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      },
    )
    const worker = new Worker(name, child)
    const ready = await new Promise<TReady>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`${name} did not start within ${timeoutMs} ms`))
      }, timeoutMs)
      child.on('message', (message: Reply) => {
        if (message.ready === undefined) return
        clearTimeout(timer)
        resolve(message.ready as TReady)
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`${name} exited before ready (${code ?? '?'})`))
      })
    })
    return { worker, ready }
  }

  /** Sends a command and waits for its answer, at most `timeoutMs`. */
  request<T>(cmd: string, args: unknown = {}, timeoutMs = 60_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`))
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer)
          resolve(value as T)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      this.child.send({ id, cmd, args })
    })
  }

  /** Asks the process to exit, and kills it if it has not within `graceMs`. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.exited) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.child.send({ cmd: 'exit' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }
}

type Handler = (args: never) => unknown

/** The worker side: answers commands with `handlers`, reports `ready`, exits on `exit`. */
export function serve(
  handlers: Record<string, Handler>,
  ready: unknown,
  onExit?: () => Promise<void>,
): void {
  const send = (message: Reply): void => {
    if (process.connected) process.send?.(message)
  }
  process.on('message', (message: { id?: number; cmd: string; args?: unknown }) => {
    if (message.cmd === 'exit') {
      const done = (): never => process.exit(0)
      setTimeout(done, 2_000).unref()
      void (onExit?.() ?? Promise.resolve()).catch(() => undefined).then(done)
      return
    }
    const handler = handlers[message.cmd]
    const id = message.id
    if (!handler) {
      send({ id, error: `unknown command ${message.cmd}` })
      return
    }
    Promise.resolve()
      .then(() => (handler as (args: unknown) => unknown)(message.args))
      .then(
        (result) => send({ id, result }),
        (error: unknown) =>
          send({
            id,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          }),
      )
  })
  process.on('disconnect', () => process.exit(0))
  send({ ready })
}

/** The JSON config a worker was started with. */
export function workerConfig<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T
}
