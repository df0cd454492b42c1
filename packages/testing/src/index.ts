/**
 * `@ws-warden/testing`: what the adapter packages' tests share. The helpers (a recording `ws`
 * client, a warden with test defaults, polling waits) and the adapter conformance kit every
 * adapter runs. Private: never published.
 *
 * @packageDocumentation
 */
export { Client, listen, open, SECRET, testWarden, tokenFor, until } from './helpers.js'
export type { Teardown } from './helpers.js'
export { adapterConformance } from './conformance.js'
export type {
  AdapterFactory,
  ConformanceApp,
  ConformanceSetup,
  ConformanceTest,
} from './conformance.js'
