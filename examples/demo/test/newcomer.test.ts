/**
 * The README's first command as a newcomer runs it: `npm run demo` from the repository root,
 * stopped with Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it).
 * Its output has no npm config warning, no pnpm `approve-builds` box, no turbo telemetry notice
 * and no `ERR_PNPM_RECURSIVE_RUN_FIRST_FAIL`/`ELIFECYCLE`; the demo drains once (no forced exit
 * from a forwarded second SIGINT), its client gets 1012, and npm exits 0.
 *
 * And scripts/setup.sh, through scripts/pnpm.sh, runs the pnpm that package.json pins without
 * replacing a global pnpm of another version, against fake `pnpm`/`npx`/`npm` that record calls.
 */
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clientsOf, until } from './helpers.js'
import { within } from './processes.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const pinned = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { packageManager: string }
).packageManager.replace(/^pnpm@/, '')

/** The environment of a fresh terminal: no `npm_` or `pnpm_` variable, as a runner exports. */
function freshEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm|pnpm)_/i.test(key) && key !== 'INIT_CWD') env[key] = value
  }
  return { ...env, ...extra }
}

t.test('npm run demo, then Ctrl-C: a clean output, one drain, 1012, exit 0', async (t) => {
  const config = t.testdir() // turbo shows its telemetry notice once per fresh config dir
  const npm = spawn('npm', ['run', 'demo'], {
    cwd: root,
    env: freshEnv({ HOST: '127.0.0.1', PORT: '0', XDG_CONFIG_HOME: config }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, which the "terminal" below signals
  })
  let output = ''
  npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = once(npm, 'exit').then(([code]) => code as number | null)
  t.teardown(() => {
    if (npm.exitCode === null && npm.signalCode === null) process.kill(-npm.pid!, 'SIGKILL')
  })

  const listening = /ws-warden demo listening on (http:\/\/\S+)/
  await within(
    180_000,
    until(() => listening.test(output) || npm.exitCode !== null, 180_000),
  )
  const base = listening.exec(output)?.[1]
  if (!base) {
    t.fail(`the demo did not start: ${output.slice(-2000)}`)
    return
  }
  const client = await clientsOf(t, base).connect('alice')

  process.kill(-npm.pid!, 'SIGINT') // Ctrl-C
  t.equal((await within(20_000, client.closed)).code, 1012)
  t.equal(await within(20_000, exited), 0, 'npm exits 0')

  t.notMatch(output, /npm (warn|WARN)/, 'no npm warning (unknown .npmrc keys)')
  t.notMatch(output, /approve-builds|Ignored build scripts/, 'no approve-builds box')
  t.notMatch(output, /telemetry/i, 'no turbo telemetry notice')
  t.notMatch(output, /ERR_PNPM|ELIFECYCLE|Command failed/, 'no pnpm failure after Ctrl-C')
  // npm's forwarded signal arrives as SIGTERM (scripts/demo.mjs), which leaves the drain alone.
  t.equal(output.match(/"signal":"SIGINT"/g)?.length, 1, 'one SIGINT: one graceful drain')
  t.notMatch(output, '"forced":true', 'no forced exit')
})

/**
 * A bin directory with fake `pnpm` (answering `--version` with `version`, or absent), `npx` and
 * `npm` that log their arguments, plus the few real tools the scripts use; nothing else is on
 * its PATH.
 */
function fakeTools(dir: string, version: string | undefined) {
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  const log = join(dir, 'calls.log')
  writeFileSync(log, '')
  const fake = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`)
    chmodSync(join(bin, name), 0o755)
  }
  const record = (name: string) =>
    `echo "${name} $* TURBO_TELEMETRY_DISABLED=$TURBO_TELEMETRY_DISABLED" >> '${log}'`
  if (version !== undefined) {
    fake('pnpm', `[ "$1" = --version ] && { echo ${version}; exit 0; }\n${record('pnpm')}`)
  }
  fake('npx', record('npx'))
  fake('npm', record('npm'))
  for (const tool of ['sh', 'sed', 'dirname']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim()
    symlinkSync(found, join(bin, tool))
  }
  symlinkSync(process.execPath, join(bin, 'node'))
  const setup = () =>
    spawnSync(join(bin, 'sh'), [join(root, 'scripts/setup.sh')], {
      env: { PATH: bin, HOME: dir },
      encoding: 'utf8',
    })
  const calls = () => readFileSync(log, 'utf8').trim().split('\n').filter(Boolean)
  return { setup, calls }
}

t.test(
  'setup.sh: a global pnpm of another version stays; the pinned one runs via npx',
  async (t) => {
    const { setup, calls } = fakeTools(t.testdir(), '9.15.0')
    t.equal(setup().status, 0)
    t.same(calls(), [
      `npx --yes pnpm@${pinned} install --frozen-lockfile TURBO_TELEMETRY_DISABLED=1`,
    ])
  },
)

t.test('setup.sh: no pnpm at all, the pinned one via npx; never npm install -g', async (t) => {
  const { setup, calls } = fakeTools(t.testdir(), undefined)
  t.equal(setup().status, 0)
  t.same(calls(), [`npx --yes pnpm@${pinned} install --frozen-lockfile TURBO_TELEMETRY_DISABLED=1`])
})

t.test('setup.sh: the global pnpm is used when it is the pinned version', async (t) => {
  const { setup, calls } = fakeTools(t.testdir(), pinned)
  t.equal(setup().status, 0)
  t.same(calls(), ['pnpm install --frozen-lockfile TURBO_TELEMETRY_DISABLED=1'])
})
