/** The kinds of server under test that are neither raw `ws`, Socket.IO nor ws-warden. */

/** A framework's own WebSocket support without ws-warden: each adapter's memory baseline. */
export type BareFrameworkKind = 'fastify-bare' | 'express-bare' | 'koa-bare'

export function isBareFramework(kind: string): kind is BareFrameworkKind {
  return kind === 'fastify-bare' || kind === 'express-bare' || kind === 'koa-bare'
}
