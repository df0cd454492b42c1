// Generates the API reference (docs/api/, markdown, one page per entry point) from the packages'
// sources and doc comments with typedoc (typedoc.json). With `--check` it generates into a
// temporary directory instead and fails when docs/api differs, so the committed reference never
// lags the code: run `pnpm docs:api` after changing a public API.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const committed = join(root, 'docs', 'api')
const check = process.argv.includes('--check')
const out = check ? mkdtempSync(join(tmpdir(), 'ws-warden-api-')) : committed

/** Every file under `dir`, as paths relative to it, sorted. */
function files(dir) {
  const found = []
  if (!existsSync(dir)) return found
  const walk = (at) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name)
      if (statSync(path).isDirectory()) walk(path)
      else found.push(relative(dir, path))
    }
  }
  walk(dir)
  return found.sort()
}

/** The files that differ between two trees (missing on either side, or other content). */
function differences(expected, actual) {
  const [left, right] = [files(expected), files(actual)]
  const all = [...new Set([...left, ...right])].sort()
  return all.filter(
    (file) =>
      !left.includes(file) ||
      !right.includes(file) ||
      !readFileSync(join(expected, file)).equals(readFileSync(join(actual, file))),
  )
}

try {
  if (!check) rmSync(committed, { recursive: true, force: true })
  const typedoc = spawnSync(
    process.execPath,
    [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out, '--logLevel', 'Warn'],
    { cwd: root, stdio: 'inherit' },
  )
  if (typedoc.status !== 0) {
    console.error('api-docs: typedoc failed (above): every public name needs a doc comment')
    process.exit(1)
  }
  if (check) {
    const stale = differences(out, committed)
    if (stale.length > 0) {
      console.error(`api-docs: docs/api is not what the sources generate; run \`pnpm docs:api\`:`)
      for (const file of stale) console.error(`  docs/api/${file}`)
      process.exit(1)
    }
    console.log('api-docs: docs/api matches the sources')
  }
} finally {
  if (check) rmSync(out, { recursive: true, force: true })
}
