// `npm run demo`: installs (scripts/setup.sh), builds the demo and what it depends on, then runs
// it in the foreground until it exits, and exits with its code.
//
// Signals: Ctrl-C reaches the demo straight from the terminal, and npm forwards another SIGINT
// to this process. Forwarding that one as well would be a second SIGINT, which the demo takes
// as "force the exit". So every signal this process gets is passed on as SIGTERM, which the
// demo treats as idempotent: one Ctrl-C is one graceful drain, a second Ctrl-C (the terminal's
// SIGINT again) forces it, a `kill` of npm alone is still a graceful stop.
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1' }

function step(args) {
  const result = spawnSync('sh', args, { cwd: root, env, stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

step(['scripts/setup.sh'])
step([
  'scripts/pnpm.sh',
  'exec',
  'turbo',
  'run',
  'build',
  '--filter=@ws-warden/demo...',
  '--output-logs=errors-only',
])

const demo = spawn(process.execPath, ['dist/main.js'], {
  cwd: new URL('../examples/demo/', import.meta.url),
  env,
  stdio: 'inherit',
})
const forward = () => demo.kill('SIGTERM')
process.on('SIGINT', forward)
process.on('SIGTERM', forward)
demo.on('exit', (code, signal) => {
  if (signal) {
    process.removeListener('SIGINT', forward)
    process.removeListener('SIGTERM', forward)
    process.kill(process.pid, signal)
  } else {
    process.exit(code ?? 1)
  }
})
