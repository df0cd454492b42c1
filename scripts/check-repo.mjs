// Checks what a clone and a published package need and no compiler sees, with no dependency:
// - every relative link (and #anchor) in every *.md of the repository resolves, inside it;
// - every publishable package.json (not `private`) has `license`, `repository` (the root's url,
//   with its own `directory`), `homepage`, `bugs`, and declares `sideEffects`;
// - every packages/*/src/**/*.ts module (git-tracked ones in a checkout) starts with a header
//   comment, after an optional shebang line and blank lines;
// - the root has a LICENSE file.
// Prints every problem as `file: problem` and exits 1 if there is any.
// Usage: node scripts/check-repo.mjs [root]  (default: this script's repository)
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git', '.tap', '.turbo', 'coverage', '.tmp'])

/** Every file under `dir` whose name ends with `suffix`, skipping build output and installs. */
function filesUnder(dir, suffix, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) filesUnder(join(dir, entry.name), suffix, found)
    } else if (entry.name.endsWith(suffix)) {
      found.push(join(dir, entry.name))
    }
  }
  return found
}

/** The markdown without fenced code blocks and inline code spans, line numbers kept. */
function prose(markdown) {
  let fence = null
  return markdown
    .split('\n')
    .map((line) => {
      const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1]
      if (fence === null && marker) {
        fence = marker
        return ''
      }
      if (fence !== null) {
        if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = null
        return ''
      }
      return line.replace(/(`+)[^`]*?\1/g, '')
    })
    .join('\n')
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading) {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

const anchorCache = new Map()

/** The anchors a markdown file offers: its headings' slugs (repeats get -1, -2...) and ids. */
function anchorsOf(file) {
  let anchors = anchorCache.get(file)
  if (anchors) return anchors
  anchors = new Set()
  const seen = new Map()
  const text = readFileSync(file, 'utf8')
  for (const line of prose(text).split('\n')) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1]
    if (heading === undefined) continue
    const base = slug(heading)
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    anchors.add(count === 0 ? base : `${base}-${count}`)
  }
  for (const match of text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(match[1])
  anchorCache.set(file, anchors)
  return anchors
}

/** Every link target of a markdown text, with its line. */
function linksOf(markdown) {
  const links = []
  prose(markdown)
    .split('\n')
    .forEach((line, index) => {
      const patterns = [
        /!?\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g,
        /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/g,
        /<(?:a|img)\s[^>]*?(?:href|src)="([^"]+)"/g,
      ]
      for (const pattern of patterns) {
        for (const match of line.matchAll(pattern)) {
          links.push({ target: match[1].replace(/^<|>$/g, ''), line: index + 1 })
        }
      }
    })
  return links
}

/** Problems with the relative links of one markdown file. */
function checkLinks(root, file) {
  const problems = []
  const where = (line) => `${relative(root, file)}:${line}`
  for (const { target, line } of linksOf(readFileSync(file, 'utf8'))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue
    const hash = target.indexOf('#')
    const pathPart = hash === -1 ? target : target.slice(0, hash)
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1))
    let path
    try {
      path = decodeURIComponent(pathPart.split('?')[0])
    } catch {
      problems.push(`${where(line)}: link '${target}' is not a valid URL path`)
      continue
    }
    const resolved =
      path === '' ? file : path.startsWith('/') ? join(root, path) : resolve(dirname(file), path)
    if (resolved !== root && !resolved.startsWith(root + sep)) {
      problems.push(`${where(line)}: link '${target}' points outside the repository`)
      continue
    }
    if (!existsSync(resolved)) {
      problems.push(
        `${where(line)}: link '${target}' does not resolve (no ${relative(root, resolved)})`,
      )
      continue
    }
    if (anchor && resolved.endsWith('.md') && statSync(resolved).isFile()) {
      if (!anchorsOf(resolved).has(anchor)) {
        problems.push(
          `${where(line)}: link '${target}': no heading #${anchor} in ${relative(root, resolved)}`,
        )
      }
    }
  }
  return problems
}

/** The workspace's package directories, from pnpm-workspace.yaml's `packages:` list. */
function workspaceDirs(root) {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8')
  const dirs = []
  let inPackages = false
  for (const line of yaml.split('\n')) {
    if (/^packages:\s*$/.test(line)) {
      inPackages = true
      continue
    }
    if (inPackages && /^\S/.test(line)) inPackages = false
    const pattern = inPackages ? /^\s+-\s+['"]?([^'"#\s]+)/.exec(line)?.[1] : undefined
    if (!pattern) continue
    if (pattern.endsWith('/*')) {
      const parent = join(root, pattern.slice(0, -2))
      if (!existsSync(parent)) continue
      for (const entry of readdirSync(parent, { withFileTypes: true })) {
        if (entry.isDirectory()) dirs.push(join(parent, entry.name))
      }
    } else {
      dirs.push(join(root, pattern))
    }
  }
  return dirs.filter((dir) => existsSync(join(dir, 'package.json')))
}

const nonEmpty = (value) => typeof value === 'string' && value.trim() !== ''

/** Problems with the metadata of every publishable package. */
function checkPackages(root) {
  const problems = []
  const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const url = rootPackage.repository?.url
  if (!nonEmpty(url)) problems.push('package.json: no repository.url (the one every package names)')
  for (const dir of workspaceDirs(root)) {
    const file = join(dir, 'package.json')
    const name = relative(root, file)
    const manifest = JSON.parse(readFileSync(file, 'utf8'))
    if (manifest.private === true) continue
    const directory = relative(root, dir).split(sep).join('/')
    if (!nonEmpty(manifest.license)) problems.push(`${name}: no license`)
    const repository = manifest.repository
    if (typeof repository !== 'object' || repository === null) {
      problems.push(`${name}: no repository (an object with type, url and directory)`)
    } else {
      if (nonEmpty(url) && repository.url !== url) {
        problems.push(`${name}: repository.url is '${repository.url}', not the root's '${url}'`)
      }
      if (repository.directory !== directory) {
        problems.push(
          `${name}: repository.directory is '${repository.directory}', not '${directory}'`,
        )
      }
    }
    if (!nonEmpty(manifest.homepage)) problems.push(`${name}: no homepage`)
    if (!nonEmpty(manifest.bugs?.url ?? manifest.bugs)) problems.push(`${name}: no bugs (url)`)
    const sideEffects = manifest.sideEffects
    if (typeof sideEffects !== 'boolean' && !Array.isArray(sideEffects)) {
      problems.push(
        `${name}: no sideEffects (false when importing it runs nothing, else the files that do)`,
      )
    }
  }
  return problems
}

/**
 * The packages' source modules, relative to `root` with `/`: the git-tracked ones when `root` is
 * the top of a git checkout, else every one on disk (an unpacked copy, a test's fixture).
 */
function sourceModules(root) {
  const top = spawnSync('git', ['-C', root, 'rev-parse', '--show-toplevel'], { encoding: 'utf8' })
  if (top.status === 0 && realpathSync(top.stdout.trim()) === realpathSync(root)) {
    const listed = spawnSync(
      'git',
      ['-C', root, 'ls-files', '-z', ':(glob)packages/*/src/**/*.ts'],
      {
        encoding: 'utf8',
      },
    )
    if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`)
    return listed.stdout.split('\0').filter((file) => file !== '')
  }
  const packages = join(root, 'packages')
  if (!existsSync(packages)) return []
  const found = []
  for (const entry of readdirSync(packages, { withFileTypes: true })) {
    const src = join(packages, entry.name, 'src')
    if (entry.isDirectory() && existsSync(src)) found.push(...filesUnder(src, '.ts'))
  }
  return found.map((file) => relative(root, file).split(sep).join('/'))
}

/** The source modules that do not start with a header comment saying what the module owns. */
function checkHeaders(root) {
  const problems = []
  for (const file of sourceModules(root).sort()) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n')
    if (lines[0]?.startsWith('#!')) lines.shift()
    const first = lines.find((line) => line.trim() !== '')?.trimStart() ?? ''
    if (!first.startsWith('/*') && !first.startsWith('//')) {
      problems.push(
        `${file}: no header comment (what the module owns) before its first line of code`,
      )
    }
  }
  return problems
}

/** Every problem found under `root`. */
export function checkRepo(root) {
  const problems = []
  if (!existsSync(join(root, 'LICENSE'))) problems.push('LICENSE: missing')
  for (const file of filesUnder(root, '.md').sort()) problems.push(...checkLinks(root, file))
  problems.push(...checkPackages(root))
  problems.push(...checkHeaders(root))
  return problems
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)))
  const problems = checkRepo(root)
  if (problems.length > 0) {
    console.error(`check-repo: ${problems.length} problem(s):`)
    for (const problem of problems) console.error(`  ${problem}`)
    process.exit(1)
  }
  console.log('check-repo: links, LICENSE, package metadata and module headers are in order')
}
