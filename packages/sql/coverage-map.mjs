// Every test answers for the package's sources (not for the README quick start it writes to .tmp).
import { readdirSync } from 'node:fs'

const sources = readdirSync(new URL('./src', import.meta.url)).map((file) => `src/${file}`)

export default function coverageMap() {
  return sources
}
