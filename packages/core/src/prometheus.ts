/**
 * Prometheus metrics for a warden, through `prom-client` (an optional peer dependency: this
 * subpath is the only module that imports it, and nothing is collected unless it is called).
 *
 * No label carries a user id, a connection id, a channel name or a token: label values come from
 * small fixed sets (rejection reasons, disconnect causes, store names and operations, record
 * kinds, drop reasons, resumption outcomes), every one of them snake_case.
 *
 * @packageDocumentation
 */
import type { Registry } from 'prom-client'
import { Counter, Gauge, Histogram } from 'prom-client'
import type { ResumeOutcome } from './observer.js'
import { snakeCase } from './tracing.js'
import type { Warden } from './warden.js'

/** Where `prometheusMetrics` registers its metrics, and their name prefix. */
export interface PrometheusOptions {
  /** The registry to register into (not the global default, so tests and several wardens coexist). */
  readonly registry: Registry
  /** @default 'ws_warden_' */
  readonly prefix?: string
}

/**
 * Registers ws-warden's metrics and feeds them from the warden. Returns a function that stops
 * feeding them (the metrics stay registered).
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client'
 * import { prometheusMetrics } from '@ws-warden/core/prometheus'
 * const registry = new Registry()
 * prometheusMetrics(warden, { registry })
 * app.get('/metrics', async () => registry.metrics())
 * ```
 */
export function prometheusMetrics<TData>(
  warden: Warden<TData>,
  options: PrometheusOptions,
): () => void {
  const registers = [options.registry]
  const prefix = options.prefix ?? 'ws_warden_'
  const name = (suffix: string) => `${prefix}${suffix}`

  new Gauge({
    name: name('connections'),
    help: 'Live connections on this instance.',
    registers,
    collect() {
      let count = 0
      for (const _ of warden.connections()) count++
      this.set(count)
    },
  })
  const handshakes = new Counter({
    name: name('handshakes_total'),
    help: 'Handshakes by result (accepted, rejected).',
    labelNames: ['result'],
    registers,
  })
  const rejections = new Counter({
    name: name('handshakes_rejected_total'),
    help: 'Handshakes refused, by reason code.',
    labelNames: ['reason'],
    registers,
  })
  const admission = new Histogram({
    name: name('admission_duration_seconds'),
    help: 'Time spent in the admission pipeline, per handshake.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  })
  const disconnects = new Counter({
    name: name('disconnects_total'),
    help: 'Connections ended, by cause (heartbeat = missed pong, slow_consumer = back-pressure).',
    labelNames: ['cause'],
    registers,
  })
  const messagesIn = new Counter({
    name: name('messages_received_total'),
    help: 'Frames received.',
    registers,
  })
  const bytesIn = new Counter({
    name: name('received_bytes_total'),
    help: 'Bytes received.',
    registers,
  })
  const messagesOut = new Counter({
    name: name('messages_sent_total'),
    help: 'Frames sent.',
    registers,
  })
  const bytesOut = new Counter({ name: name('sent_bytes_total'), help: 'Bytes sent.', registers })
  const storeErrors = new Counter({
    name: name('store_errors_total'),
    help: 'Store calls that failed or timed out, by store.',
    labelNames: ['store'],
    registers,
  })
  const storeDuration = new Histogram({
    name: name('store_duration_seconds'),
    help: 'Time a store call took (failed and timed out ones included), by store and operation.',
    labelNames: ['store', 'operation'],
    buckets: STORE_BUCKETS,
    registers,
  })
  const dropped = new Counter({
    name: name('messages_dropped_total'),
    help: 'Messages dropped: rate_limited and backlog_full (received), slow_consumer (sent).',
    labelNames: ['reason'],
    registers,
  })
  const resumptions = new Counter({
    name: name('resumptions_total'),
    help: 'Handshakes that asked to resume a session, by result (succeeded, failed) and reason.',
    labelNames: ['result', 'reason'],
    registers,
  })
  const sweeps = new Counter({
    name: name('sweeps_total'),
    help: 'Sweeps run by this instance.',
    registers,
  })
  const swept = new Counter({
    name: name('swept_records_total'),
    help: 'Records removed by sweeps, by kind.',
    labelNames: ['kind'],
    registers,
  })

  return warden.observe({
    admitted: (ms) => {
      handshakes.inc({ result: 'accepted' })
      admission.observe(ms / 1000)
    },
    rejected: (reason, ms) => {
      handshakes.inc({ result: 'rejected' })
      rejections.inc({ reason })
      admission.observe(ms / 1000)
    },
    disconnected: (cause) => disconnects.inc({ cause }),
    received: (bytes) => {
      messagesIn.inc()
      bytesIn.inc(bytes)
    },
    sent: (bytes) => {
      messagesOut.inc()
      bytesOut.inc(bytes)
    },
    dropped: (reason) => dropped.inc({ reason }),
    resumed: (outcome) => resumptions.inc({ result: RESUME_RESULT[outcome], reason: outcome }),
    storeCall: (store, operation, ms) =>
      storeDuration.observe({ store: snakeCase(store), operation }, ms / 1000),
    storeError: (store) => storeErrors.inc({ store: snakeCase(store) }),
    swept: (report) => {
      sweeps.inc()
      swept.inc({ kind: 'sessions' }, report.sessions)
      swept.inc({ kind: 'tokens' }, report.tokens)
      swept.inc({ kind: 'rate_limits' }, report.rateLimits)
    },
  })
}

/** Store calls take from tens of microseconds (memory) to the store timeout (2 s by default). */
const STORE_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
]

/** The `result` label of each resumption outcome (the `reason` label is the outcome itself). */
const RESUME_RESULT: Readonly<Record<ResumeOutcome, 'succeeded' | 'failed'>> = {
  complete: 'succeeded',
  incomplete: 'succeeded',
  malformed: 'failed',
  unknown: 'failed',
  wrong_user: 'failed',
  invalid_state: 'failed',
  store_unavailable: 'failed',
  disconnected: 'failed',
}
