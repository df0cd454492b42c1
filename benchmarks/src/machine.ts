import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, loadavg, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StoreKind } from './services.js'

const benchDir = fileURLToPath(new URL('..', import.meta.url))

/** The installed version of `name` as seen from `fromDir` (a package directory). */
export function versionOf(name: string, fromDir = benchDir): string {
  try {
    const require = createRequire(join(fromDir, 'package.json'))
    let dir = dirname(require.resolve(name))
    for (let i = 0; i < 8; i++) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
          name?: string
          version?: string
        }
        if (pkg.name === name) return pkg.version ?? '?'
      } catch {
        // keep walking up
      }
      dir = dirname(dir)
    }
  } catch {
    // not installed
  }
  return 'not installed'
}

export interface MachineFacts {
  readonly cores: number
  readonly cpuModel: string
  readonly memoryGiB: number
  readonly node: string
  readonly platform: string
  readonly fdLimit: string
  readonly packages: Readonly<Record<string, string>>
  readonly services: Partial<Record<StoreKind, string>>
  readonly load: readonly number[]
}

export function machineFacts(
  services: Partial<Record<StoreKind, string>>,
  fdLimit: string,
): MachineFacts {
  const core = join(benchDir, '..', 'packages', 'core')
  const fastify = join(benchDir, '..', 'packages', 'fastify')
  const packages: Record<string, string> = {}
  for (const name of [
    'ws',
    'fastify',
    'express',
    'koa',
    'socket.io',
    'socket.io-client',
    '@socket.io/redis-adapter',
    'ioredis',
    'pg',
    'mysql2',
  ]) {
    packages[name] = versionOf(name)
  }
  packages.jose = versionOf('jose', core)
  packages['lru-cache'] = versionOf('lru-cache', core)
  packages['@fastify/websocket'] = versionOf('@fastify/websocket', fastify)
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    fdLimit,
    packages,
    services,
    load: loadavg(),
  }
}

export function renderMachine(facts: MachineFacts, loadAfter: readonly number[]): string {
  const load = (values: readonly number[]): string =>
    values.map((value) => value.toFixed(2)).join(' / ')
  return [
    `- CPU: ${facts.cores} × ${facts.cpuModel}; memory ${facts.memoryGiB} GiB; ${facts.platform}; open files limit ${facts.fdLimit}`,
    `- Node ${facts.node}`,
    `- Packages: ${Object.entries(facts.packages)
      .map(([name, version]) => `${name} ${version}`)
      .join(', ')}`,
    `- Services: ${(['redis', 'postgres', 'mysql'] as const).map((kind) => facts.services[kind] ?? `${kind}: not available`).join(', ')}`,
    `- Load average (1/5/15 min) before: ${load(facts.load)}; after: ${load(loadAfter)}`,
  ].join('\n')
}
