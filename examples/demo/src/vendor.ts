/**
 * The page's copy of `@ws-warden/client` and `@ws-warden/protocol`, without a bundler: their
 * built ESM files under `/vendor/client/` and `/vendor/protocol/`, which the page's import map
 * names. The files are those of the packages this process resolves (the same code the Node tests
 * import), read once at start-up.
 *
 * Every file is a route of its own, with its exact path: nothing from a request ever becomes a
 * file path, so `..`, encoded slashes and the like can only miss (404), never reach another file.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Where the vendored packages are served. */
export const VENDOR_PATH = '/vendor'

/** The JavaScript MIME type the files are served with. */
export const JAVASCRIPT = 'text/javascript; charset=utf-8'

/** What is served, by the directory name under {@link VENDOR_PATH}. */
export const VENDORED = { client: '@ws-warden/client', protocol: '@ws-warden/protocol' } as const

export interface VendorFile {
  /** `/vendor/<name>/<file>.js` */
  readonly path: string
  readonly body: string
}

/** The directory of a package's entry point (its `dist`), as this process resolves it. */
function packageDirectory(specifier: string): string {
  const build = `run pnpm --filter ${specifier} build`
  let entry: string
  try {
    entry = fileURLToPath(import.meta.resolve(specifier))
  } catch (error) {
    throw new Error(`cannot find ${specifier} (${String(error)}): ${build}`, { cause: error })
  }
  if (!existsSync(entry)) throw new Error(`${specifier} is not built (no ${entry}): ${build}`)
  return dirname(entry)
}

/** Every `.js` file of the vendored packages' entry directories (and below), read now. */
export function vendorFiles(packages: Readonly<Record<string, string>> = VENDORED): VendorFile[] {
  const files: VendorFile[] = []
  for (const [name, specifier] of Object.entries(packages)) {
    const directory = packageDirectory(specifier)
    const entries = readdirSync(directory, { recursive: true, encoding: 'utf8' })
    for (const relative of entries.filter((entry) => entry.endsWith('.js')).sort()) {
      const file = join(directory, relative)
      if (!statSync(file).isFile()) continue
      const body = readFileSync(file, 'utf8')
      files.push({ path: `${VENDOR_PATH}/${name}/${relative.split(sep).join('/')}`, body })
    }
  }
  return files
}
