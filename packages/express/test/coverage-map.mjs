// Every test covers the package's sources, and only them (not the README's quick start, which
// test/readme.test.ts writes to .tmp/ and runs).
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

const sources = readdirSync(join(import.meta.dirname, '..', 'src'))
  .filter((name) => name.endsWith('.ts'))
  .map((name) => `src/${name}`)

export default () => sources
