import t from 'tap'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ADAPTERS } from '../src/config.js'
import { importMap, moduleImports } from './fake-page.js'
import { vendorFiles } from '../src/vendor.js'
import { startDemo } from './helpers.js'

/** The directory this process resolves a package to: what /vendor/ must serve. */
const directoryOf = (specifier: string) => dirname(fileURLToPath(import.meta.resolve(specifier)))
const served = {
  '/vendor/client/': directoryOf('@ws-warden/client'),
  '/vendor/protocol/': directoryOf('@ws-warden/protocol'),
}

/** The file on disk a /vendor/ path stands for. */
function fileOf(path: string): string {
  for (const [prefix, directory] of Object.entries(served)) {
    if (path.startsWith(prefix)) return join(directory, path.slice(prefix.length))
  }
  throw new Error(`${path} is not under /vendor/client/ or /vendor/protocol/`)
}

/** A GET with the path sent exactly as written (`fetch` would normalize `..` away). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
      response.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** The specifiers a module imports or re-exports (the built files use `from '...'` only). */
const specifiers = (source: string) =>
  [...source.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*'([^']+)'/gm)].map((m) => m[1] ?? '')

const TRAVERSALS = [
  '/vendor/client/../package.json',
  '/vendor/client/../../package.json',
  '/vendor/client/../src/client.ts',
  '/vendor/client/..%2fpackage.json',
  '/vendor/client/%2e%2e/package.json',
  '/vendor/client/%2e%2e%2f%2e%2e%2fpackage.json',
  '/vendor/client/..\\package.json',
  '/vendor/client/%2fetc%2fpasswd',
  '/vendor/client//etc/passwd',
  '/vendor/protocol/../../client/package.json',
  '/vendor/client/index.d.ts',
  '/vendor/client/index.js.map',
  '/vendor/client/',
  '/vendor/client',
  '/vendor/',
  '/vendor/core/index.js',
  '/vendor/..%2f..%2fpackage.json',
]

t.test('the import map names the vendored client and protocol', async (t) => {
  t.same(importMap.imports, {
    '@ws-warden/client': '/vendor/client/index.js',
    '@ws-warden/protocol': '/vendor/protocol/index.js',
  })
  t.same(moduleImports, [{ specifier: '@ws-warden/client', names: ['WardenClient'] }])
})

t.test('a package that cannot be found stops start-up, saying how to build it', async (t) => {
  t.throws(() => vendorFiles({ nope: '@ws-warden/not-a-package' }), {
    message:
      /^cannot find @ws-warden\/not-a-package .*: run pnpm --filter @ws-warden\/not-a-package build$/,
  })
  const paths = vendorFiles().map(({ path }) => path)
  t.ok(paths.includes('/vendor/client/index.js') && paths.includes('/vendor/protocol/index.js'))
  t.ok(
    paths.every((path) => /^\/vendor\/(client|protocol)\/[\w/.-]+\.js$/.test(path)),
    'only .js files',
  )
})

for (const adapter of ADAPTERS) {
  t.test(`${adapter}: /vendor/ serves the client's and the protocol's built files`, async (t) => {
    const { http, port } = await startDemo(t, { WARDEN_ADAPTER: adapter })
    // What a browser does with the page's module: fetch every file it imports, following
    // relative imports and resolving bare ones through the import map. Bounded: each file once.
    const imports = importMap.imports ?? {}
    const queue = moduleImports.map(({ specifier }) => imports[specifier] ?? specifier)
    const seen = new Set<string>()
    while (queue.length > 0) {
      const path = queue.shift() as string
      if (seen.has(path)) continue
      seen.add(path)
      const response = await http(path)
      t.equal(response.status, 200, path)
      t.equal(response.headers.get('content-type'), 'text/javascript; charset=utf-8', path)
      t.equal(response.headers.get('x-content-type-options'), 'nosniff', path)
      const body = await response.text()
      t.equal(body, readFileSync(fileOf(path), 'utf8'), `${path}: the resolved package's file`)
      for (const specifier of specifiers(body)) {
        if (specifier.startsWith('.')) {
          queue.push(new URL(specifier, `http://page${path}`).pathname)
        } else {
          t.ok(imports[specifier], `${path} imports ${specifier}: the import map names it`)
          if (imports[specifier]) queue.push(imports[specifier])
        }
      }
    }
    t.ok(seen.has('/vendor/client/client.js'), 'the client module graph was followed')
    t.ok(seen.has('/vendor/protocol/resume.js'), "and the protocol's")

    const packageJson = readFileSync(join(served['/vendor/client/'], '..', 'package.json'), 'utf8')
    for (const path of TRAVERSALS) {
      const { status, body } = await rawGet(port, path)
      t.equal(status, 404, path)
      t.notOk(body.includes('"name": "@ws-warden/client"'), `${path}: no package.json`)
      t.notOk(body === packageJson || body.includes('root:x:0:0'), `${path}: no other file`)
    }
  })
}
