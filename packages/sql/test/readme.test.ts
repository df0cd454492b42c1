import t from 'tap'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Warden } from '@ws-warden/core'
import type pg from 'pg'
import type { PostgresBroker, SqlStores } from '../src/index.js'
import { PG_URL, pgPool, randomName, reachable } from './helpers/servers.js'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const admin = pgPool()
const schema = randomName('wsw_readme_')
t.teardown(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {})
  await admin.end()
})

/** The README's quick start, as written, with the package imported from source. */
async function quickStart(): Promise<string> {
  const readme = await readFile(`${packageDir}README.md`, 'utf8')
  const block = /<!-- quick-start[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  if (block === undefined) throw new Error('README.md has no quick-start block')
  return block.replace("from '@ws-warden/sql'", "from '../src/index.js'")
}

if (await reachable(t, 'PostgreSQL', () => admin.query('SELECT 1'))) {
  t.test("the README's quick start runs as written", async (t) => {
    await admin.query(`CREATE SCHEMA "${schema}"`)
    // The quick start's unqualified tables land in this run's schema, through search_path.
    const url = new URL(PG_URL)
    url.searchParams.set('options', `-c search_path=${schema}`)
    process.env.DATABASE_URL = url.toString()
    process.env.WS_TOKEN_SECRET = 'a-readme-secret-that-is-at-least-32-bytes'
    await mkdir(`${packageDir}.tmp`, { recursive: true })
    const file = `${packageDir}.tmp/readme-quick-start.ts`
    await writeFile(file, `${await quickStart()}\nexport { broker, pool, stores, warden }\n`)
    const { broker, pool, stores, warden } = (await import(file)) as {
      broker: PostgresBroker
      pool: pg.Pool
      stores: SqlStores
      warden: Warden
    }
    const tables = await admin.query(
      'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1',
      [schema],
    )
    t.equal(tables.rows[0].n, 11, 'migrate made the tables, in the schema of the search path')
    t.match(await warden.stats(), { cluster: { connections: 0 } })
    const { token } = await warden.issueToken({ userId: 'alice', permissions: [] })
    t.type(token, 'string')
    await warden.close()
    await broker.close()
    await stores.close()
    await pool.end()
  })
}
