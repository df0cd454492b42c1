import type {
  ClientEvents,
  ClientOptions,
  SocketEventMap,
  Timers,
  WebSocketConstructor,
  WebSocketLike,
} from '../../src/index.js'
import { WardenClient } from '../../src/index.js'

/** Timers driven by hand: nothing runs until `advance` (or `runDue`). */
export class FakeTimers implements Timers {
  time = 1_000_000
  private nextId = 1
  private readonly pending = new Map<number, { at: number; callback: () => void }>()

  now = (): number => this.time

  setTimeout = (callback: () => void, ms: number): unknown => {
    const id = this.nextId++
    this.pending.set(id, { at: this.time + ms, callback })
    return id
  }

  clearTimeout = (handle: unknown): void => {
    this.pending.delete(handle as number)
  }

  /** Timers still waiting. */
  get size(): number {
    return this.pending.size
  }

  /** When the next timer is due, or undefined. */
  get nextAt(): number | undefined {
    let next: number | undefined
    for (const { at } of this.pending.values()) if (next === undefined || at < next) next = at
    return next
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms
    for (;;) {
      let due: [number, { at: number; callback: () => void }] | undefined
      for (const entry of this.pending) {
        if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry
      }
      if (due === undefined) break
      this.pending.delete(due[0])
      this.time = Math.max(this.time, due[1].at)
      due[1].callback()
    }
    this.time = end
  }

  /** Jumps the clock without running timers (a suspended process), then runs what is due. */
  jump(ms: number): void {
    this.time += ms
    this.advance(0)
  }
}

type Listener = (event: never) => void

/** A WebSocket whose other end is the test. */
export class FakeSocket implements WebSocketLike {
  readyState = 0
  /** The subprotocol "the server" selected; set it before `open()`. */
  protocol = ''
  readonly sent: string[] = []
  closedWith: { code?: number | undefined; reason?: string | undefined } | undefined
  private readonly listeners = new Map<string, Set<Listener>>()

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {}

  /** The query parameters of the URL the client asked for. */
  get query(): URLSearchParams {
    return new URL(this.url).searchParams
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('not open')
    this.sent.push(data)
  }

  /** Makes `close()` throw, as a socket in a state that cannot close might. */
  closeThrows = false

  close(code?: number, reason?: string): void {
    if (this.closeThrows) throw new Error('cannot close now')
    this.closedWith = { code, reason }
    this.readyState = 2
  }

  addEventListener<K extends keyof SocketEventMap>(
    type: K,
    listener: (event: SocketEventMap[K]) => void,
  ): void {
    let set = this.listeners.get(type)
    if (!set) this.listeners.set(type, (set = new Set()))
    set.add(listener as Listener)
  }

  removeEventListener<K extends keyof SocketEventMap>(
    type: K,
    listener: (event: SocketEventMap[K]) => void,
  ): void {
    this.listeners.get(type)?.delete(listener as Listener)
  }

  /** How many open, message and close listeners are attached (the client keeps a no-op error one). */
  get listenerCount(): number {
    let count = 0
    for (const [type, set] of this.listeners) if (type !== 'error') count += set.size
    return count
  }

  private dispatch<K extends keyof SocketEventMap>(type: K, event: SocketEventMap[K]): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) {
      ;(listener as (event: SocketEventMap[K]) => void)(event)
    }
  }

  // --- the server's side ---

  open(): void {
    this.readyState = 1
    this.dispatch('open', {})
  }

  /** Delivers `data` as it is (a binary frame, say). */
  receiveRaw(data: unknown): void {
    this.dispatch('message', { data })
  }

  receive(frame: unknown): void {
    this.dispatch('message', { data: typeof frame === 'string' ? frame : JSON.stringify(frame) })
  }

  /** The handshake fails the way `ws` fails it: an error event with `message`, then 1006. */
  failHandshake(message: string): void {
    this.readyState = 3
    this.dispatch('error', { message })
    this.dispatch('close', { code: 1006, reason: '' })
  }

  /** Only an error event (a socket the client already let go of); without a message, no event object. */
  error(message?: string): void {
    this.dispatch('error', message === undefined ? undefined : { message })
  }

  /** The server closes (or the network drops, with 1006). */
  end(code = 1006, reason = ''): void {
    this.readyState = 3
    this.dispatch('error', {})
    this.dispatch('close', { code, reason })
  }

  /** Parsed frames the client sent. */
  get frames(): Record<string, unknown>[] {
    return this.sent.map((text) => JSON.parse(text) as Record<string, unknown>)
  }
}

/** A client over fake sockets and fake timers, recording every event. */
export function fakeClient(options: Partial<ClientOptions> = {}) {
  const timers = new FakeTimers()
  const sockets: FakeSocket[] = []
  const WebSocket = class extends FakeSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols)
      sockets.push(this)
    }
  } as WebSocketConstructor
  let tokens = 0
  const events: { [K in keyof ClientEvents]?: ClientEvents[K][] } = {}
  const client = new WardenClient({
    url: 'ws://example.test/ws',
    token: () => `token-${++tokens}`,
    WebSocket,
    timers,
    random: () => 0.5,
    ...options,
  })
  const names: (keyof ClientEvents)[] = [
    'open',
    'session',
    'resumed',
    'message',
    'close',
    'reconnecting',
    'refreshed',
    'error',
  ]
  for (const name of names) {
    client.on(name, (payload) => {
      ;((events[name] ??= []) as unknown[]).push(payload)
    })
  }
  /** The socket of the latest attempt, once its token has been fetched. */
  const last = (): FakeSocket => {
    const socket = sockets.at(-1)
    if (!socket) throw new Error('no socket yet')
    return socket
  }
  return { client, timers, sockets, events, last }
}

/** Lets pending promise callbacks (the token provider's) run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
