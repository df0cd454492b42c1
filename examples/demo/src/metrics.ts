/**
 * `GET /metrics`: ws-warden's own metrics (`@ws-warden/core/prometheus`) in a registry of the
 * demo's, plus cluster-wide gauges read from the store at scrape time and a count of the errors
 * reported to the warden's `onError` hook. Nothing is registered in prom-client's global
 * registry, so several demos (tests) can run in one process.
 *
 * @module
 */
import type { Warden, WardenHooks } from '@ws-warden/core'
import type { SessionStats } from '@ws-warden/core/stores'
import { prometheusMetrics } from '@ws-warden/core/prometheus'
import { Counter, Gauge, Registry } from 'prom-client'

const PREFIX = 'ws_warden_'

export class DemoMetrics {
  readonly registry = new Registry()
  private readonly errors = new Counter({
    name: `${PREFIX}errors_total`,
    help: 'Errors reported to the onError hook: handler crashes, background store failures, hook errors.',
    registers: [this.registry],
  })

  /** The warden hooks that count (passed to `createWarden`, before {@link attach}). */
  readonly hooks: WardenHooks<Record<string, unknown>> = {
    onError: () => this.errors.inc(),
  }

  /** The `Content-Type` of {@link render}'s text. */
  get contentType(): string {
    return this.registry.contentType
  }

  /** Feeds the registry from a warden: its own metrics, and the cluster's counts. */
  attach(warden: Warden): void {
    prometheusMetrics(warden, { registry: this.registry, prefix: PREFIX })
    const cluster = clusterStats(warden)
    const gauge = (name: string, help: string, read: (stats: SessionStats) => number) =>
      new Gauge({
        name: `${PREFIX}cluster_${name}`,
        help,
        registers: [this.registry],
        async collect() {
          // The store unreachable: keep the last value; store_errors_total says why.
          const stats = await cluster().catch(() => undefined)
          if (stats) this.set(read(stats))
        },
      })
    gauge(
      'connections',
      'Live connections of every instance sharing the store.',
      (stats) => stats.connections,
    )
    gauge('users', 'Users with at least one live connection, cluster-wide.', (stats) => stats.users)
    gauge(
      'channels',
      'Channels with at least one member, cluster-wide.',
      (stats) => Object.keys(stats.channels).length,
    )
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics()
  }
}

/**
 * The cluster's counts, read once per scrape: the gauges collect concurrently and share the
 * call in flight.
 */
function clusterStats(warden: Warden): () => Promise<SessionStats> {
  let pending: Promise<SessionStats> | undefined
  return () =>
    (pending ??= warden
      .stats()
      .then(({ cluster }) => cluster)
      .finally(() => (pending = undefined)))
}
