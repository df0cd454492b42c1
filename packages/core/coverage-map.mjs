// Which source files each test file is accountable for. A unit test earns coverage only for the
// module it is about, so a pure module cannot look covered just because an integration test
// happened to run through it. Integration tests (real sockets) answer for the engine.
const engine = [
  'src/admission.ts',
  'src/composed-admission.ts',
  'src/connection.ts',
  'src/heartbeat.ts',
  'src/logger.ts',
  'src/messages.ts',
  'src/options.ts',
  'src/registry.ts',
  'src/shutdown.ts',
  'src/store-guard.ts',
  'src/topics.ts',
  'src/adapter/upgrade.ts',
  'src/warden.ts',
  'src/errors.ts',
  'src/rate-limit.ts',
  'src/resumption.ts',
  'src/refresh.ts',
  'src/schema.ts',
  'src/define-handler.ts',
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
]

export default function coverageMap(testFile) {
  // `hs256.differential.test.ts` answers for `src/hs256.ts`, like `hs256.test.ts`.
  const name = testFile
    .replace(/^test\//, '')
    .replace(/\.test\.ts$/, '')
    .replace(/\.differential$/, '')
  if (integration.includes(name)) return engine
  if (name.startsWith('memory-')) return `src/memory/${name.slice('memory-'.length)}.ts`
  return `src/${name}.ts`
}
