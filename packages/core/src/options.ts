/**
 * The warden's options: their types, their defaults, and `resolveOptions`, which applies and
 * checks them (with the validators of `validate.ts`).
 *
 * @module
 */
import type { TrustProxy } from './adapter/client-ip.js'
import type { OriginPolicy, ResolvedOrigins } from './origins.js'
import { resolveOrigins } from './origins.js'
import type { RefreshOptions } from './refresh.js'
import { resolveRefresh } from './refresh.js'
import type { ResumptionOptions } from './resumption-options.js'
import { resolveResumption } from './resumption-options.js'
import type { WardenStores } from './store-contracts.js'
import type { SweeperOptions, SweepOptions } from './sweep.js'
import { resolveSweep } from './sweep.js'
import type { TokenOptions } from './tokens.js'
import type { SpanTracer } from './tracing.js'
import type {
  Clock,
  Connection,
  DisconnectInfo,
  Handler,
  Logger,
  Principal,
  RejectInfo,
  ResumeInfo,
  UpgradeRequest,
} from './types.js'
import type { ExpiredSession } from './store-contracts.js'
import { durationOption, integerOption, isNonEmptyString, stringListOption } from './validate.js'

/** Limits. Every one has a default; set a number to change it. */
export interface LimitOptions {
  /**
   * Connection attempts per client IP per window. Every attempt counts, failed ones included.
   * @default 20
   */
  readonly connectAttemptsPerIp?: number
  /**
   * Connection attempts per user per window (counted once the token names the user).
   * @default 20
   */
  readonly connectAttemptsPerUser?: number
  /**
   * The attempt window.
   * @default 60000
   */
  readonly connectWindowMs?: number
  /**
   * Messages per second per connection (a token bucket in process; no store I/O).
   * @default 20
   */
  readonly messagesPerSecond?: number
  /**
   * Messages a connection may send in one burst before the per-second rate applies.
   * @default messagesPerSecond
   */
  readonly messageBurst?: number
  /**
   * How long a connection whose message bucket ran dry is not read: what it sends meanwhile waits
   * in the TCP buffers, so a flooding peer is held back by back-pressure instead of being read
   * (and its excess dropped) as fast as it sends. `0` never pauses (excess messages are only
   * dropped). At most half of `heartbeat.timeoutMs`, so that a paused peer's pong is read in time.
   * @default the bucket's full refill, messageBurst / messagesPerSecond seconds (1000 ms)
   */
  readonly readPauseMs?: number
  /**
   * Largest inbound message in bytes; a larger one closes the connection with 1009.
   * @default 65536
   */
  readonly maxMessageBytes?: number
  /**
   * Live connections per user, across every instance sharing the session store.
   * @default 10
   */
  readonly connectionsPerUser?: number
  /**
   * Live connections per client IP (IPv6 per /64), across instances.
   * @default 100
   */
  readonly connectionsPerIp?: number
  /**
   * Live connections in total, across instances.
   * @default 50000
   */
  readonly maxConnections?: number
}

/** The heartbeat: one timer pings every connection and terminates those whose pong is late. */
export interface HeartbeatOptions {
  /**
   * How often every connection is pinged.
   * @default 25000
   */
  readonly intervalMs?: number
  /**
   * How long a pong may take; a peer that misses it is terminated. At most `intervalMs`.
   * @default 10000
   */
  readonly timeoutMs?: number
}

/** Back-pressure: when a connection that does not read what it is sent is closed as slow. */
export interface SendOptions {
  /**
   * Bytes a connection may have buffered (sent but not yet written to the network) before it is
   * closed as a slow consumer.
   * @default 1048576
   */
  readonly maxBufferedBytes?: number
  /**
   * How long buffered bytes may stay unwritten before the connection is closed as a slow consumer.
   * @default 5000
   */
  readonly timeoutMs?: number
}

/** Graceful shutdown: how clients are closed and how long the warden waits for them. */
export interface ShutdownOptions {
  /**
   * How long to wait for clients to complete the closing handshake before terminating them.
   * @default 30000
   */
  readonly timeoutMs?: number
  /**
   * Closes are spread evenly over this window so clients do not all reconnect at once.
   * @default 2000
   */
  readonly drainMs?: number
  /**
   * The close code sent to clients: 1012 (service restart, reconnect) or 1001 (going away).
   * @default 1012
   */
  readonly closeCode?: number
}

/** Lifecycle hooks, in the order they run. Hooks must not throw; errors go to `onError`. */
export interface WardenHooks<TData> {
  /**
   * After the token is verified, before permissions and caps: may return an enriched principal,
   * or throw a `WardenError` (for example `ForbiddenError`) to reject the handshake.
   */
  readonly onAdmit?: (
    principal: Principal,
    request: UpgradeRequest,
  ) => Principal | Promise<Principal>
  /** A handshake was rejected. Observe only. */
  readonly onReject?: (info: RejectInfo) => void
  /** A connection is attached and registered. */
  readonly onConnect?: (connection: Connection<TData>) => void
  /** A message passed the size and rate limits and parsed, before it is dispatched. */
  readonly onMessage?: (connection: Connection<TData>, type: string) => void
  /** A connection ended, for whatever cause. Runs once per connection. */
  readonly onDisconnect?: (connection: Connection<TData>, info: DisconnectInfo) => void
  /** A handler crashed, a store failed in the background, a hook threw. */
  readonly onError?: (error: unknown, connection?: Connection<TData>) => void
  /** A connection resumed its session; its replay is sent (resumption on). */
  readonly onResume?: (connection: Connection<TData>, info: ResumeInfo) => void
  /**
   * A resumable session expired without being resumed (resumption on): its user did not come
   * back within `resumption.ttlMs`. Fired once per session across instances, from the heartbeat's
   * sweep (so up to one heartbeat interval late).
   */
  readonly onResumeExpired?: (session: ExpiredSession) => void
}

/** Everything `createWarden` accepts. Only `tokens` is required. */
export interface WardenOptions<TData = Record<string, unknown>> {
  /** How connect tokens are signed and verified. */
  readonly tokens: TokenOptions
  /** The stores; each one left out is the in-process memory store. */
  readonly stores?: WardenStores
  /**
   * This instance's id in the cluster (session records, broker messages).
   * @default a random id
   */
  readonly instanceId?: string
  /**
   * Which browser pages may open a WebSocket (the `Origin` header): an exact list
   * (`['https://chat.example']`), `'same-origin'` (the Origin's host equals the `Host` header),
   * or a function `(origin, request) => boolean` (only `true` allows). A request without
   * `Origin` (not a browser) is allowed; its token is still required.
   *
   * **Left unset, every origin is allowed**: any web page a signed-in user visits can then open
   * a socket with a token it obtained from your token endpoint (cross-site WebSocket hijacking,
   * if that endpoint authenticates by cookie). Set it in production.
   * @default undefined (every origin)
   */
  readonly origins?: OriginPolicy
  /**
   * Proxies whose `X-Forwarded-For` is trusted (addresses or CIDRs). `false` uses the socket's address.
   * @default false
   */
  readonly trustProxy?: TrustProxy
  /** Permissions every connection needs, on every endpoint. @default [] */
  readonly permissions?: readonly string[]
  readonly limits?: LimitOptions
  /** Heartbeat settings, or `false` to turn heartbeats off. */
  readonly heartbeat?: HeartbeatOptions | false
  readonly send?: SendOptions
  readonly shutdown?: ShutdownOptions
  /**
   * How long any store call may take before it fails with `StoreUnavailableError`.
   * @default 2000
   */
  readonly storeTimeoutMs?: number
  /**
   * The in-process sweeper: removes stale session records, old token ids and rate-limit windows
   * on a schedule, one instance at a time (through `stores.locks`). `false` turns it off (run
   * `warden.sweep()` or the `ws-warden cleanup` CLI from cron instead).
   */
  readonly sweeper?: SweeperOptions | false
  /**
   * Session resumption: a client that reconnects within `ttlMs` with its resume credential gets
   * its channels and data back and every fan-out frame it missed, in order. `true` for the
   * defaults. Needs heartbeats (they keep live sessions resumable).
   * @default false
   */
  readonly resumption?: ResumptionOptions | boolean
  /**
   * Token expiry on live connections with in-band refresh: the server asks for a fresh token
   * before a connection's token expires and closes it (4101) if none comes within the grace
   * period. `true` for the defaults. Needs heartbeats (their sweep drives it).
   * @default false
   */
  readonly refresh?: RefreshOptions | boolean
  /** The message handlers, by message `type`. A type not listed is never dispatched. */
  readonly handlers?: Readonly<Record<string, Handler<TData>>>
  /**
   * Decides whether a connection may join a channel. Without it, any channel may be joined.
   */
  readonly authorizeChannel?: (
    connection: Connection<TData>,
    channel: string,
  ) => boolean | Promise<boolean>
  /** Creates a connection's `data` when it is attached. @default () => ({}) */
  readonly createData?: (principal: Principal) => TData
  readonly hooks?: WardenHooks<TData>
  /** A pino-compatible logger. @default silent */
  readonly logger?: Logger
  /**
   * Where spans go: an OpenTelemetry `Tracer` (`trace.getTracer('ws-warden')` from the optional
   * peer dependency `@opentelemetry/api`), or anything with its `startActiveSpan`. Spans:
   * `ws-warden.admit`, `ws-warden.deliver`, `ws-warden.store` (see the README). Unset, no span
   * is made.
   * @default undefined (no tracing)
   */
  readonly tracer?: SpanTracer
  /** Where time comes from. @default Date */
  readonly clock?: Clock
}

/** Options with every default applied. */
export interface ResolvedOptions {
  readonly instanceId: string
  readonly origins: ResolvedOrigins | undefined
  readonly permissions: readonly string[]
  readonly limits: Required<LimitOptions>
  readonly heartbeat: Required<HeartbeatOptions> | false
  readonly send: Required<SendOptions>
  readonly shutdown: Required<ShutdownOptions>
  readonly storeTimeoutMs: number
  readonly resumption: Required<ResumptionOptions> | false
  readonly refresh: Required<RefreshOptions> | false
  readonly sweeper: (Required<SweepOptions> & { readonly intervalMs: number }) | false
}

/** Applies defaults and validates; every error names the option. */
export function resolveOptions(
  options: WardenOptions<unknown>,
  randomId: () => string,
): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('ws-warden: options must be an object')
  }
  const limits = options.limits ?? {}
  const rate = integerOption('limits.messagesPerSecond', limits.messagesPerSecond, 20)
  const burst = integerOption('limits.messageBurst', limits.messageBurst, rate)
  const heartbeat =
    options.heartbeat === false
      ? false
      : {
          intervalMs: integerOption('heartbeat.intervalMs', options.heartbeat?.intervalMs, 25_000),
          timeoutMs: integerOption('heartbeat.timeoutMs', options.heartbeat?.timeoutMs, 10_000),
        }
  if (heartbeat && heartbeat.timeoutMs > heartbeat.intervalMs) {
    throw new TypeError(
      'ws-warden: option heartbeat.timeoutMs must not exceed heartbeat.intervalMs',
    )
  }
  const closeCode = options.shutdown?.closeCode ?? 1012
  if (closeCode !== 1012 && closeCode !== 1001 && (closeCode < 4000 || closeCode > 4999)) {
    throw new TypeError('ws-warden: option shutdown.closeCode must be 1012, 1001 or 4000-4999')
  }
  const { tracer } = options
  if (tracer !== undefined && typeof tracer?.startActiveSpan !== 'function') {
    throw new TypeError('ws-warden: option tracer must be a tracer (with startActiveSpan)')
  }
  const instanceId = options.instanceId ?? randomId()
  if (!isNonEmptyString(instanceId)) {
    throw new TypeError('ws-warden: option instanceId must be a non-empty string')
  }
  return {
    instanceId,
    origins: resolveOrigins(options.origins),
    permissions: stringListOption('permissions', options.permissions) ?? [],
    limits: {
      connectAttemptsPerIp: integerOption(
        'limits.connectAttemptsPerIp',
        limits.connectAttemptsPerIp,
        20,
      ),
      connectAttemptsPerUser: integerOption(
        'limits.connectAttemptsPerUser',
        limits.connectAttemptsPerUser,
        20,
      ),
      connectWindowMs: integerOption('limits.connectWindowMs', limits.connectWindowMs, 60_000),
      messagesPerSecond: rate,
      messageBurst: burst,
      maxMessageBytes: integerOption('limits.maxMessageBytes', limits.maxMessageBytes, 65_536),
      connectionsPerUser: integerOption('limits.connectionsPerUser', limits.connectionsPerUser, 10),
      connectionsPerIp: integerOption('limits.connectionsPerIp', limits.connectionsPerIp, 100),
      maxConnections: integerOption('limits.maxConnections', limits.maxConnections, 50_000),
      readPauseMs: durationOption(
        'limits.readPauseMs',
        limits.readPauseMs,
        Math.ceil((burst * 1000) / rate),
      ),
    },
    heartbeat,
    send: {
      maxBufferedBytes: integerOption(
        'send.maxBufferedBytes',
        options.send?.maxBufferedBytes,
        1_048_576,
      ),
      timeoutMs: integerOption('send.timeoutMs', options.send?.timeoutMs, 5_000),
    },
    shutdown: {
      timeoutMs: integerOption('shutdown.timeoutMs', options.shutdown?.timeoutMs, 30_000),
      drainMs: durationOption('shutdown.drainMs', options.shutdown?.drainMs, 2_000),
      closeCode,
    },
    storeTimeoutMs: integerOption('storeTimeoutMs', options.storeTimeoutMs, 2_000),
    resumption: resolveResumption(options.resumption, heartbeat !== false),
    refresh: resolveRefresh(options.refresh, heartbeat !== false),
    sweeper:
      options.sweeper === false
        ? false
        : {
            ...resolveSweep(
              options.sweeper ?? {},
              heartbeat ? heartbeat.intervalMs : 25_000,
              'sweeper',
            ),
            intervalMs: integerOption('sweeper.intervalMs', options.sweeper?.intervalMs, 300_000),
          },
  }
}
