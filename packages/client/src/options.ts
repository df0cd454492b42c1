/**
 * The client's options: what `new WardenClient()` accepts, their defaults, and their checks (a bad
 * option throws at construction), with the check on what a token provider returns. The client's
 * only validators: it cannot use core's (it runs in browsers, without `@ws-warden/core`).
 *
 * @module
 */
import type { BackoffOptions, ResolvedBackoff } from './backoff.js'
import type { HeartbeatOptions } from './heartbeat.js'
import type { OverflowPolicy, QueueOptions } from './queue.js'
import type { WebSocketConstructor } from './socket.js'
import type { Timers } from './timers.js'
import { systemTimers } from './timers.js'

/** Fetches a fresh connect token. Called before every attempt: a connect token is single use. */
export type TokenProvider = () => string | Promise<string>

/** Everything `new WardenClient()` accepts. Only `url` and `token` are required. */
export interface ClientOptions {
  /**
   * The WebSocket endpoint, without the token (`wss://example.com/ws`), or a function that
   * returns it, called before every attempt. The client appends `ws_token` (and, to resume,
   * `ws_resume` and `ws_pos`) to its query.
   */
  readonly url: string | (() => string)
  /** Fetches a fresh connect token (for example from your token endpoint), before every attempt. */
  readonly token: TokenProvider
  /**
   * Fetches a token for an in-band refresh, when the server asks for one (`$refresh`). Tokens for
   * refresh and for connect are the same kind, so by default the `token` provider is used.
   * @default the `token` provider
   */
  readonly refreshToken?: TokenProvider
  /**
   * The WebSocket class. In Node pass `ws`'s: `import WebSocket from 'ws'`.
   * @default globalThis.WebSocket
   */
  readonly WebSocket?: WebSocketConstructor
  /**
   * The application's own subprotocols, offered after `ws-warden.v1` (which the client always
   * offers, unless the server turned out to select none). A ws-warden server selects
   * `ws-warden.v1`; these matter only to servers that do not speak it.
   * @default none
   */
  readonly protocols?: string | string[]
  /** Reconnect delays. */
  readonly backoff?: BackoffOptions
  /**
   * How long one attempt may take, from asking for the token to the socket being open; past it
   * the attempt is abandoned and counts as a failure.
   * @default 10000
   */
  readonly connectTimeoutMs?: number
  /**
   * Consecutive failed attempts after which the client gives up (`close` with
   * `willRetry: false`). A stable connection resets the count.
   * @default Infinity
   */
  readonly maxAttempts?: number
  /** Dead-server detection, or `false` to rely on the socket's own close only. */
  readonly heartbeat?: HeartbeatOptions | false
  /** The send queue used while disconnected. */
  readonly queue?: QueueOptions
  /**
   * Resume the session after a reconnect (when the server has resumption on): missed messages
   * are replayed, channels and per-connection data restored. `false` starts fresh every time.
   * @default true
   */
  readonly resume?: boolean
  /**
   * Connect as soon as the client is created. With `false`, call `connect()`.
   * @default true
   */
  readonly autoConnect?: boolean
  /** Random numbers in [0, 1) for jitter. @default Math.random */
  readonly random?: () => number
  /** Clock and timers; for tests. @default the platform's */
  readonly timers?: Timers
}

/** Options with every default applied. */
export interface ResolvedOptions {
  readonly url: () => string
  readonly token: TokenProvider
  readonly refreshToken: TokenProvider
  readonly WebSocket: WebSocketConstructor
  /** The application's subprotocols (`ws-warden.v1` is added when offered). */
  readonly protocols: readonly string[]
  readonly backoff: ResolvedBackoff
  readonly connectTimeoutMs: number
  readonly maxAttempts: number
  readonly heartbeat: Required<HeartbeatOptions> | false
  readonly queue: { readonly max: number; readonly overflow: OverflowPolicy }
  readonly resume: boolean
  readonly autoConnect: boolean
  readonly random: () => number
  readonly timers: Timers
}

const OVERFLOW: readonly OverflowPolicy[] = ['drop-oldest', 'drop-newest', 'throw']

function fail(name: string, what: string): never {
  throw new TypeError(`ws-warden client: option ${name} must be ${what}`)
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    fail(name, `a positive finite number, got ${String(value)}`)
  }
  return value
}

function nonNegativeInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    fail(name, `a non-negative integer, got ${String(value)}`)
  }
  return value
}

function fn<T>(name: string, value: unknown, fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'function') fail(name, 'a function')
  return value as T
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(name, 'a boolean')
  return value
}

/** True for what a token provider may return: a non-empty string. */
export function isToken(value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

/** Applies defaults and validates; every error names the option. */
export function resolveOptions(options: ClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('ws-warden client: options must be an object')
  }
  const { url } = options
  if (typeof url !== 'string' && typeof url !== 'function') fail('url', 'a string or a function')
  if (typeof url === 'string' && !/^wss?:\/\//i.test(url)) fail('url', 'a ws:// or wss:// URL')
  const token = fn<TokenProvider>('token', options.token)
  const WebSocket = fn<WebSocketConstructor>(
    'WebSocket',
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket,
  )
  const backoff = options.backoff ?? {}
  const initialDelayMs = positive('backoff.initialDelayMs', backoff.initialDelayMs, 500)
  const maxDelayMs = positive('backoff.maxDelayMs', backoff.maxDelayMs, 30_000)
  if (maxDelayMs < initialDelayMs) fail('backoff.maxDelayMs', 'at least backoff.initialDelayMs')
  const factor = positive('backoff.factor', backoff.factor, 2)
  if (factor < 1) fail('backoff.factor', 'at least 1')
  const heartbeat =
    options.heartbeat === false
      ? false
      : {
          idleMs: positive('heartbeat.idleMs', options.heartbeat?.idleMs, 30_000),
          timeoutMs: positive('heartbeat.timeoutMs', options.heartbeat?.timeoutMs, 10_000),
        }
  const overflow = options.queue?.overflow ?? 'drop-oldest'
  if (!OVERFLOW.includes(overflow)) fail('queue.overflow', `one of ${OVERFLOW.join(', ')}`)
  const maxAttempts = options.maxAttempts ?? Infinity
  if (maxAttempts !== Infinity) nonNegativeInteger('maxAttempts', maxAttempts, 0)
  if (maxAttempts === 0) fail('maxAttempts', 'at least 1')
  const protocols = options.protocols
  if (
    protocols !== undefined &&
    typeof protocols !== 'string' &&
    !(Array.isArray(protocols) && protocols.every((item) => typeof item === 'string'))
  ) {
    fail('protocols', 'a string or an array of strings')
  }
  const timers = options.timers ?? systemTimers
  if (typeof timers?.now !== 'function' || typeof timers.setTimeout !== 'function') {
    fail('timers', 'an object with now, setTimeout and clearTimeout')
  }
  return {
    url: typeof url === 'string' ? () => url : url,
    token,
    refreshToken: fn<TokenProvider>('refreshToken', options.refreshToken, token),
    WebSocket,
    protocols: protocols === undefined ? [] : [protocols].flat(),
    backoff: {
      initialDelayMs,
      maxDelayMs,
      factor,
      immediateJitterMs: nonNegativeInteger(
        'backoff.immediateJitterMs',
        backoff.immediateJitterMs,
        1_000,
      ),
      stableAfterMs: nonNegativeInteger('backoff.stableAfterMs', backoff.stableAfterMs, 5_000),
    },
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 10_000),
    maxAttempts,
    heartbeat,
    queue: { max: nonNegativeInteger('queue.max', options.queue?.max, 100), overflow },
    resume: bool('resume', options.resume, true),
    autoConnect: bool('autoConnect', options.autoConnect, true),
    random: fn<() => number>('random', options.random, Math.random),
    timers,
  }
}
