/**
 * scripts/check-repo.mjs, which scripts/test.mjs runs before any test: on a small repository with
 * every kind of problem it lists each one and exits 1; on a tidy one, and on this repository, 0.
 * (The fixtures are no git checkouts, so the header check reads every module on disk there.)
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const script = `${root}scripts/check-repo.mjs`
const check = (dir?: string) =>
  spawnSync(process.execPath, dir ? [script, dir] : [script], { encoding: 'utf8' })

const repository = { type: 'git', url: 'git+https://example.com/x.git' }
const tidyPackage = {
  name: '@x/lib',
  license: 'MIT',
  repository: { ...repository, directory: 'packages/lib' },
  homepage: 'https://example.com/x',
  bugs: { url: 'https://example.com/x/issues' },
  sideEffects: false,
}
const workspace = 'packages:\n  - packages/*\n  - examples/*\n'

t.test('a tidy repository passes', async (t) => {
  const dir = t.testdir({
    LICENSE: 'MIT',
    'package.json': JSON.stringify({ private: true, repository }),
    'pnpm-workspace.yaml': workspace,
    'README.md': [
      '# Title',
      '## Two words',
      '[lib](packages/lib) [readme](packages/lib/README.md#the-lib) [here](#two-words)',
      '[site](https://example.com) [mail](mailto:a@example.com) [abs](/LICENSE)',
      '```sh',
      '[not a link](nowhere.md)',
      '```',
      'and `[code](nowhere.md)` too',
    ].join('\n'),
    packages: {
      lib: {
        'package.json': JSON.stringify(tidyPackage),
        'README.md': '# The lib\n',
        src: {
          'index.ts': "/** The lib's entry point. */\nexport const x = 1\n",
          'bin.ts': "#!/usr/bin/env node\n\n// The lib's executable.\nimport './index.js'\n",
          inner: { 'deep.ts': '\n/**\n * A module in a subfolder.\n */\nexport {}\n' },
        },
      },
    },
    examples: { app: { 'package.json': JSON.stringify({ private: true }), src: { 'a.ts': 'x' } } },
  })
  const result = check(dir)
  t.equal(result.stderr, '')
  t.equal(result.status, 0)
})

t.test('every problem is listed, and the exit is 1', async (t) => {
  const dir = t.testdir({
    'package.json': JSON.stringify({ private: true, repository }),
    'pnpm-workspace.yaml': workspace,
    'README.md': [
      '# Title',
      '[gone](docs/gone.md)',
      '[out](../shared/DEMO-CONTRACT.md)',
      '[anchor](packages/lib/README.md#no-such-heading)',
      '[ref]: missing/ref.md',
    ].join('\n'),
    packages: {
      lib: {
        'package.json': JSON.stringify({ name: '@x/lib', repository: { ...repository } }),
        'README.md': '# The lib\n',
        src: {
          'index.ts': "import './a.js'\n/** A doc comment after the imports is no header. */\n",
          'bin.ts': '#!/usr/bin/env node\nconsole.log(1)\n',
          inner: { 'deep.ts': 'export {}\n' },
          'ok.ts': '/** Owns nothing. */\n',
        },
      },
      other: {
        'package.json': JSON.stringify({
          ...tidyPackage,
          repository: { type: 'git', url: 'git+https://example.com/y.git', directory: 'lib' },
          sideEffects: undefined,
        }),
      },
    },
  })
  const result = check(dir)
  t.equal(result.status, 1)
  const lines = result.stderr.trim().split('\n')
  t.equal(lines[0], `check-repo: ${lines.length - 1} problem(s):`)
  t.same(
    lines.slice(1).map((line) => line.trim()),
    [
      'LICENSE: missing',
      "README.md:2: link 'docs/gone.md' does not resolve (no docs/gone.md)",
      "README.md:3: link '../shared/DEMO-CONTRACT.md' points outside the repository",
      "README.md:4: link 'packages/lib/README.md#no-such-heading': no heading #no-such-heading in packages/lib/README.md",
      "README.md:5: link 'missing/ref.md' does not resolve (no missing/ref.md)",
      'packages/lib/package.json: no license',
      "packages/lib/package.json: repository.directory is 'undefined', not 'packages/lib'",
      'packages/lib/package.json: no homepage',
      'packages/lib/package.json: no bugs (url)',
      'packages/lib/package.json: no sideEffects (false when importing it runs nothing, else the files that do)',
      "packages/other/package.json: repository.url is 'git+https://example.com/y.git', not the root's 'git+https://example.com/x.git'",
      "packages/other/package.json: repository.directory is 'lib', not 'packages/other'",
      'packages/other/package.json: no sideEffects (false when importing it runs nothing, else the files that do)',
      'packages/lib/src/bin.ts: no header comment (what the module owns) before its first line of code',
      'packages/lib/src/index.ts: no header comment (what the module owns) before its first line of code',
      'packages/lib/src/inner/deep.ts: no header comment (what the module owns) before its first line of code',
    ],
  )
})

t.test('this repository passes', async (t) => {
  const result = check()
  t.equal(result.stderr, '')
  t.equal(result.status, 0)
})
