// Which source files each test file is accountable for. A unit test earns coverage only for the
// module it is about, so a pure module cannot look covered just because an integration test
// happened to run through it. Integration tests (real sockets) answer for the engine.
const engine = [
  'src/admission.ts',
  'src/composed-admission.ts',
  'src/connection.ts',
  'src/tick-batch.ts',
  'src/heartbeat.ts',
  'src/logger.ts',
  'src/messages.ts',
  'src/options.ts',
  'src/registry.ts',
  'src/drain.ts',
  'src/store-guard.ts',
  'src/topics.ts',
  'src/adapter/upgrade.ts',
  'src/warden.ts',
  'src/warden/admitting.ts',
  'src/warden/channels.ts',
  'src/warden/connections.ts',
  'src/warden/delivery.ts',
  'src/warden/messaging.ts',
  'src/warden/pulse.ts',
  'src/warden/runtime.ts',
  'src/warden/sessions.ts',
  'src/warden/shutdown.ts',
  'src/warden/sweeping.ts',
  'src/validate.ts',
  'src/session.ts',
  'src/errors.ts',
  'src/rate-limit.ts',
  'src/resumption.ts',
  'src/refresh.ts',
  'src/schema.ts',
  'src/define-handler.ts',
  'src/tracing.ts',
]
const integration = [
  'admission',
  'admission-store',
  'messages',
  'lifecycle',
  'channels',
  'warden',
  'operations',
  'resumption',
  'refresh',
  'schemas',
  'observers',
  'tracing',
  'admit-now',
]

/** Unit tests that answer for more than their own module. */
const units = {
  connection: ['src/connection.ts', 'src/tick-batch.ts'],
  shutdown: ['src/drain.ts'],
  'read-token': ['src/admission.ts'],
  tokens: [
    'src/tokens.ts',
    'src/tokens/options.ts',
    'src/tokens/keys.ts',
    'src/tokens/issue.ts',
    'src/tokens/verify.ts',
    'src/timing-safe.ts',
  ],
}

export default function coverageMap(testFile) {
  // `hs256.differential.test.ts` answers for `src/hs256.ts`, like `hs256.test.ts`.
  const name = testFile
    .replace(/^test\//, '')
    .replace(/\.test\.ts$/, '')
    .replace(/\.differential$/, '')
  if (integration.includes(name)) return engine
  if (units[name]) return units[name]
  if (name.startsWith('memory-')) return `src/memory/${name.slice('memory-'.length)}.ts`
  return `src/${name}.ts`
}
