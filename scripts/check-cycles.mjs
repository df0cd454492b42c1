// Fails (exit 1) when the relative imports of any workspace package's `src/**/*.ts` form a
// circle, and prints each circle as a path. Reads `import ... from`, `import type ... from`,
// `export ... from`, side-effect `import '...'` and `import('...')`; no dependency.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The workspace's package directories, from pnpm-workspace.yaml (`dir` and `dir/*` entries). */
function packageDirs() {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8')
  const dirs = []
  for (const match of yaml.matchAll(/^\s*-\s*['"]?([^'"\s#]+)['"]?/gm)) {
    const pattern = match[1]
    if (pattern.endsWith('/*')) {
      const parent = join(root, pattern.slice(0, -2))
      if (!existsSync(parent)) continue
      for (const name of readdirSync(parent)) dirs.push(join(parent, name))
    } else {
      dirs.push(join(root, pattern))
    }
  }
  return dirs.filter((dir) => existsSync(join(dir, 'package.json')))
}

function sourceFiles(dir) {
  if (!existsSync(dir)) return []
  const files = []
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path))
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) files.push(path)
  }
  return files
}

/** The text with comments removed (strings kept, so that `'//'` in a string survives). */
function withoutComments(text) {
  return text.replace(
    /("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`)|\/\/[^\n]*|\/\*[\s\S]*?\*\//g,
    (whole, string) => string ?? ' ',
  )
}

const STATIC =
  /(?:^|[;\n}])\s*(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"\n]+)['"]/g
const DYNAMIC = /\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g

/** The files a source file imports relatively, resolved to `.ts` paths. */
function importsOf(file) {
  const text = withoutComments(readFileSync(file, 'utf8'))
  const targets = new Set()
  for (const pattern of [STATIC, DYNAMIC]) {
    for (const match of text.matchAll(pattern)) {
      const specifier = match[1]
      if (!specifier.startsWith('.')) continue
      const target = resolveSpecifier(dirname(file), specifier)
      if (target) targets.add(target)
    }
  }
  return [...targets]
}

function resolveSpecifier(from, specifier) {
  const base = resolve(from, specifier)
  const candidates = [
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.mjs$/, '.mts'),
    base,
    `${base}.ts`,
    join(base, 'index.ts'),
  ]
  return candidates.find(
    (path) => path.endsWith('.ts') && existsSync(path) && statSync(path).isFile(),
  )
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function circles(graph) {
  let index = 0
  const indices = new Map()
  const low = new Map()
  const stack = []
  const onStack = new Set()
  const found = []
  const connect = (node) => {
    indices.set(node, index)
    low.set(node, index)
    index++
    stack.push(node)
    onStack.add(node)
    for (const next of graph.get(node) ?? []) {
      if (!indices.has(next)) {
        connect(next)
        low.set(node, Math.min(low.get(node), low.get(next)))
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), indices.get(next)))
      }
    }
    if (low.get(node) !== indices.get(node)) return
    const component = []
    let member
    do {
      member = stack.pop()
      onStack.delete(member)
      component.push(member)
    } while (member !== node)
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component)
  }
  for (const node of graph.keys()) if (!indices.has(node)) connect(node)
  return found
}

/** One circle through a component, as a path that returns to where it started. */
function pathThrough(graph, component) {
  const members = new Set(component)
  const start = [...component].sort()[0]
  const previous = new Map([[start, undefined]])
  const queue = [start]
  while (queue.length > 0) {
    const node = queue.shift()
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next)) continue
      if (next === start) {
        const path = [start]
        for (let at = node; at !== start; at = previous.get(at)) path.splice(1, 0, at)
        return [...path, start]
      }
      if (!previous.has(next)) {
        previous.set(next, node)
        queue.push(next)
      }
    }
  }
  return [start, start]
}

const graph = new Map()
for (const dir of packageDirs()) {
  for (const file of sourceFiles(join(dir, 'src'))) graph.set(file, importsOf(file))
}
const found = circles(graph)
for (const component of found) {
  const path = pathThrough(graph, component).map((file) => relative(root, file))
  console.error(`import circle (${component.length} files): ${path.join(' -> ')}`)
}
if (found.length > 0) {
  console.error(`${found.length} import circle(s) found`)
  process.exit(1)
}
console.log(`no import circles in ${graph.size} source files`)
