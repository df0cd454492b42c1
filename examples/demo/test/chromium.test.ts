import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findChromium } from './chromium.js'

/** A directory with executables (and a non-executable `plain`) of the given names. */
function bin(root: string, dir: string, names: string[]): string {
  const path = join(root, dir)
  mkdirSync(path, { recursive: true })
  for (const name of names) {
    writeFileSync(join(path, name), '#!/bin/sh\n')
    chmodSync(join(path, name), 0o755)
  }
  writeFileSync(join(path, 'plain'), '')
  return path
}

t.test('CHROMIUM_PATH first, then PATH in name order, then the fallback', async (t) => {
  const root = t.testdir()
  const a = bin(root, 'a', ['google-chrome'])
  const b = bin(root, 'b', ['chromium-browser', 'custom'])
  const fallback = join(bin(root, 'fallback', ['chromium']), 'chromium')
  const PATH = `${a}:${b}`
  t.same(findChromium({ CHROMIUM_PATH: join(b, 'custom'), PATH }, fallback), {
    path: join(b, 'custom'),
  })
  t.same(findChromium({ PATH }, fallback), { path: join(b, 'chromium-browser') }, 'by name order')
  t.same(findChromium({ PATH: a }, fallback), { path: join(a, 'google-chrome') })
  t.same(findChromium({ PATH: '' }, fallback), { path: fallback })
  t.same(findChromium({}, fallback), { path: fallback }, 'no PATH at all')
})

t.test('nothing found, or a bad CHROMIUM_PATH: an error naming the variable', async (t) => {
  const root = t.testdir()
  const dir = bin(root, 'empty', [])
  const missing = join(root, 'nowhere', 'chromium')
  const none = findChromium({ PATH: dir }, missing)
  t.match(none, { error: /^no Chromium found: set CHROMIUM_PATH to / })
  t.match(none, { error: /chromium, chromium-browser, google-chrome on PATH/ })
  t.match(findChromium({ CHROMIUM_PATH: join(dir, 'plain'), PATH: dir }, missing), {
    error: `CHROMIUM_PATH is set to ${join(dir, 'plain')}, which is not an executable file`,
  })
  t.match(findChromium({ CHROMIUM_PATH: dir }, missing), { error: /^CHROMIUM_PATH is set/ })
})

t.test(
  'CHROMIUM_PATH reaches the test under turbo (strict env mode filters the rest)',
  async (t) => {
    const root = fileURLToPath(new URL('../../../', import.meta.url))
    const dry = spawnSync(
      'sh',
      ['scripts/pnpm.sh', 'exec', 'turbo', 'run', 'test', '--filter=@ws-warden/demo', '--dry=json'],
      { cwd: root, encoding: 'utf8', env: { ...process.env, CHROMIUM_PATH: '/opt/chrome' } },
    )
    t.equal(dry.status, 0, dry.stderr)
    const plan = JSON.parse(dry.stdout) as {
      tasks: { taskId: string; environmentVariables: { passthrough: string[] | null } }[]
    }
    const task = plan.tasks.find(({ taskId }) => taskId === '@ws-warden/demo#test')
    t.match(task?.environmentVariables.passthrough, [/^CHROMIUM_PATH=/])
  },
)
