import { spawn } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// The real bin, as npm links it: the built dist/bin.js (turbo builds before it tests).
const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

function spawnBin(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  )
}

t.test('dist/bin.js is an executable node script', async (t) => {
  t.ok(existsSync(bin), `${bin} exists (run the build first: pnpm --filter @ws-warden/cli build)`)
  t.match(readFileSync(bin, 'utf8'), /^#!\/usr\/bin\/env node\n/)
  const { version, bin: bins } = JSON.parse(
    readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
  )
  t.same(bins, { 'ws-warden': './dist/bin.js' })
  const run = await spawnBin(['--version'])
  t.same(run, { code: 0, stdout: `${version}\n`, stderr: '' })
  t.ok(statSync(bin).isFile())
})

t.test('the bin runs a command and exits with its code', async (t) => {
  const done = await spawnBin(['cleanup', '--json'], { WS_WARDEN_STORE: 'memory:' })
  t.equal(done.code, 0, done.stderr)
  t.match(JSON.parse(done.stdout), { store: 'memory:', sessions: 0, tokens: 0, rateLimits: 0 })
  const bad = await spawnBin(['cleanup', '--store', 'memory:', '--token-age', 'later'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^ws-warden cleanup: --token-age must be/)
  const unreachable = await spawnBin([
    'stats',
    '--store',
    'redis://:hunter2@127.0.0.1:1',
    '--timeout',
    '200ms',
  ])
  t.equal(unreachable.code, 3)
  t.match(unreachable.stderr, /^ws-warden stats: cannot reach redis:\/\/:\*\*\*@127\.0\.0\.1:1: /)
})
