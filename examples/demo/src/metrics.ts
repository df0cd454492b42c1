/**
 * A few Prometheus metrics in the text exposition format, counted through the warden's hooks.
 * (`prom-client` replaces this when the core grows its own metrics.)
 */
import type { Warden, WardenHooks } from '@ws-warden/core'

const PREFIX = 'ws_warden'

export class DemoMetrics {
  private opened = 0
  private messages = 0
  private errors = 0
  /** By disconnect cause and by rejection code: small, bounded label sets. */
  private readonly closed = new Map<string, number>()
  private readonly rejected = new Map<string, number>()

  /** The warden hooks that count. */
  readonly hooks: WardenHooks<Record<string, unknown>> = {
    onConnect: () => void this.opened++,
    onDisconnect: (_connection, { cause }) => increment(this.closed, cause),
    onReject: ({ error }) => increment(this.rejected, error.code),
    onMessage: () => void this.messages++,
    onError: () => void this.errors++,
  }

  /** The exposition text: gauges from `warden.stats()`, counters from the hooks. */
  async render(warden: Warden): Promise<string> {
    const { instance, cluster } = await warden.stats()
    return [
      gauge('connections', 'Live connections on this instance.', instance.connections),
      gauge(
        'cluster_connections',
        'Live connections of every instance sharing the store.',
        cluster.connections,
      ),
      gauge(
        'cluster_users',
        'Users with at least one live connection, cluster-wide.',
        cluster.users,
      ),
      gauge(
        'cluster_channels',
        'Channels with at least one member, cluster-wide.',
        Object.keys(cluster.channels).length,
      ),
      counter('connections_opened_total', 'Connections attached on this instance.', this.opened),
      labelled(
        'connections_closed_total',
        'Connections ended on this instance, by cause.',
        'cause',
        this.closed,
      ),
      labelled(
        'handshakes_rejected_total',
        'Handshakes refused before the upgrade, by reason.',
        'reason',
        this.rejected,
      ),
      counter('messages_received_total', 'Messages dispatched to a handler.', this.messages),
      counter(
        'errors_total',
        'Handler crashes, background store failures and hook errors.',
        this.errors,
      ),
    ].join('')
  }
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

function header(name: string, help: string, type: 'gauge' | 'counter'): string {
  return `# HELP ${PREFIX}_${name} ${help}\n# TYPE ${PREFIX}_${name} ${type}\n`
}

function gauge(name: string, help: string, value: number): string {
  return `${header(name, help, 'gauge')}${PREFIX}_${name} ${value}\n`
}

function counter(name: string, help: string, value: number): string {
  return `${header(name, help, 'counter')}${PREFIX}_${name} ${value}\n`
}

function labelled(name: string, help: string, label: string, values: Map<string, number>): string {
  const lines = [...values].map(([key, value]) => `${PREFIX}_${name}{${label}="${key}"} ${value}\n`)
  return header(name, help, 'counter') + lines.join('')
}
