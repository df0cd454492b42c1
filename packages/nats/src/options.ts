/**
 * The NATS broker's options: their type, their defaults, and `readOptions`, which checks them
 * (with the validators of `@ws-warden/core/stores`) and resolves them into either a given
 * connection or the options of the connection the broker opens.
 *
 * @module
 */
import { countOption, isNonEmptyString, onErrorOption } from '@ws-warden/core/stores'
import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node'
import { checkPrefix } from './subjects.js'

/** Options of {@link NatsBroker}. */
export interface NatsBrokerOptions {
  /**
   * An open NATS connection to use. The broker never closes or drains it (it belongs to the
   * caller); `close()` ends the broker's subscriptions on it. Give this or `servers`.
   */
  readonly connection?: NatsConnection | undefined
  /**
   * The servers to connect to when no `connection` is given (`nats://host:port`, or several for
   * a cluster). The broker then owns the connection: it reconnects for ever and drains it on
   * `close()`.
   * @default 'nats://127.0.0.1:4222'
   */
  readonly servers?: string | readonly string[] | undefined
  /**
   * More options for the connection the broker opens (authentication, TLS, `name`, reconnect
   * timing). `servers`, `reconnect` and `maxReconnectAttempts` are the broker's.
   */
  readonly connectOptions?:
    Omit<NodeConnectionOptions, 'servers' | 'reconnect' | 'maxReconnectAttempts'> | undefined
  /**
   * The first subject tokens of every subject, so several deployments (and test runs) share one
   * NATS without meeting: topic `t` is the subject `<prefix>.topic.<encoded t>`.
   * @default 'ws_warden'
   */
  readonly prefix?: string | undefined
  /**
   * How long `ready`, `subscribe` and `publish` wait for NATS (a connection, the server's answer
   * to a flush) before they reject with a `StoreUnavailableError`.
   * @default 2000
   */
  readonly timeoutMs?: number | undefined
  /**
   * Receives connection trouble (a failed connect, a disconnect, a server error) and what a
   * handler threw, with the topic when there is one. The broker never lets them crash the process.
   * @default errors are ignored
   */
  readonly onError?: ((error: unknown, topic?: string) => void) | undefined
}

/** {@link NatsBrokerOptions} checked, with their defaults applied. */
export interface BrokerSettings {
  /** What every subject starts with: `<prefix>.topic.`. */
  readonly subjectPrefix: string
  readonly timeoutMs: number
  readonly onError: (error: unknown, topic?: string) => void
  /** The caller's connection, which the broker does not own; or what to open one with. */
  readonly use:
    { readonly connection: NatsConnection } | { readonly connect: NodeConnectionOptions }
}

/** Checks `options` (throwing a `TypeError` naming the option) and applies the defaults. */
export function readOptions(options: NatsBrokerOptions): BrokerSettings {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('ws-warden: NatsBroker options must be an object')
  }
  onErrorOption('NatsBroker', options.onError)
  const subjectPrefix = `${checkPrefix('NatsBroker option prefix', options.prefix ?? 'ws_warden')}.topic.`
  const timeoutMs = countOption('NatsBroker', 'timeoutMs', options.timeoutMs, 2000)
  const onError = options.onError ?? (() => {})
  const { connection } = options
  if (connection !== undefined) {
    if (typeof connection?.subscribe !== 'function' || typeof connection.flush !== 'function') {
      throw new TypeError('ws-warden: NatsBroker option connection must be a NatsConnection')
    }
    if (options.servers !== undefined || options.connectOptions !== undefined) {
      throw new TypeError(
        'ws-warden: NatsBroker takes a connection or servers/connectOptions, not both',
      )
    }
    return { subjectPrefix, timeoutMs, onError, use: { connection } }
  }
  const servers = options.servers ?? 'nats://127.0.0.1:4222'
  const list = typeof servers === 'string' ? [servers] : [...servers]
  if (list.length === 0 || !list.every(isNonEmptyString)) {
    throw new TypeError('ws-warden: NatsBroker option servers must be non-empty strings')
  }
  const connect: NodeConnectionOptions = {
    timeout: timeoutMs,
    ...options.connectOptions,
    servers: list,
    reconnect: true,
    maxReconnectAttempts: -1,
  }
  return { subjectPrefix, timeoutMs, onError, use: { connect } }
}
