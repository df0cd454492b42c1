// Checks the repository (scripts/check-repo.mjs: links, LICENSE, package metadata), the
// formatting, import circles (scripts/check-cycles.mjs), lints scripts/, checks that docs/api is
// what the sources generate (scripts/api-docs.mjs --check), then runs lint, typecheck and every
// package's tests through turbo, and prints one closing line, `N passed, N failed`, summed from
// every tap run's summary (assertions). pnpm is the pinned one (scripts/pnpm.sh), which also
// keeps turbo's telemetry notice off.
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1' }
const pnpm = (args, options) => ['sh', ['scripts/pnpm.sh', ...args], { cwd: root, env, ...options }]

const repo = spawnSync(process.execPath, ['scripts/check-repo.mjs'], {
  cwd: root,
  stdio: 'inherit',
})
if (repo.status !== 0) {
  console.log('\nrepository checks failed (above)\n0 passed, 1 failed')
  process.exit(1)
}

const format = spawnSync(...pnpm(['exec', 'prettier', '--check', '.'], { stdio: 'inherit' }))
if (format.status !== 0) {
  console.log('\nformatting: run `pnpm format`\n0 passed, 1 failed')
  process.exit(1)
}

const cycles = spawnSync('node', ['scripts/check-cycles.mjs'], { stdio: 'inherit' })
if (cycles.status !== 0) {
  console.log('\nimport circles: see above\n0 passed, 1 failed')
  process.exit(1)
}

const scripts = spawnSync(
  ...pnpm(['exec', 'eslint', 'scripts', 'eslint.config.js'], { stdio: 'inherit' }),
)
if (scripts.status !== 0) {
  console.log('\nlint of scripts/: see above\n0 passed, 1 failed')
  process.exit(1)
}

const api = spawnSync('node', ['scripts/api-docs.mjs', '--check'], { cwd: root, stdio: 'inherit' })
if (api.status !== 0) {
  console.log('\nAPI reference: see above\n0 passed, 1 failed')
  process.exit(1)
}

const args = [
  'exec',
  'turbo',
  'run',
  'lint',
  'typecheck',
  'test',
  '--concurrency=2',
  '--output-logs=full',
]
const child = spawn(...pnpm(args, { stdio: ['ignore', 'pipe', 'pipe'] }))
const summary = /# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/
let passed = 0
let failed = 0
let buffered = ''

function scan(chunk) {
  buffered += chunk
  const lines = buffered.split('\n')
  buffered = lines.pop() ?? ''
  for (const line of lines) {
    const match = summary.exec(line)
    if (match) {
      passed += Number(match[2])
      failed += Number(match[3] ?? 0)
    }
  }
}

child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  scan(chunk.toString())
})
child.stderr.on('data', (chunk) => {
  process.stderr.write(chunk)
  scan(chunk.toString())
})
child.on('close', (code) => {
  scan('\n')
  // A non-zero exit with no failing assertion (a lint error, a crash) still counts as one failure.
  if (code !== 0 && failed === 0) failed = 1
  console.log(`\n${passed} passed, ${failed} failed`)
  process.exit(code ?? 1)
})
