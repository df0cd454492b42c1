import t from 'tap'
import type { Warden } from '@ws-warden/core'
import type { FastifyInstance } from 'fastify'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { Client } from './helpers.js'

const packageDir = fileURLToPath(new URL('..', import.meta.url))

/** The README's quick start, as written, with the package imported from source. */
async function quickStart(): Promise<string> {
  const readme = await readFile(`${packageDir}README.md`, 'utf8')
  const block = /<!-- quick-start[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  if (block === undefined) throw new Error('README.md has no quick-start block')
  return block.replace("from '@ws-warden/fastify'", "from '../src/index.js'")
}

t.test("the README's quick start runs as written", async (t) => {
  const code = await quickStart()
  t.match(code, "app.get('/ws', { websocket: true, warden:")
  await mkdir(`${packageDir}.tmp`, { recursive: true })
  const file = `${packageDir}.tmp/readme-quick-start.ts`
  await writeFile(file, `${code}\nexport { app, warden }\n`)
  process.env.WS_TOKEN_SECRET = 'a-readme-secret-that-is-at-least-32-bytes'
  process.env.PORT = '0'
  const { app, warden } = (await import(file)) as { app: FastifyInstance; warden: Warden }
  const sockets: WebSocket[] = []
  t.teardown(async () => {
    for (const socket of sockets) socket.terminate()
    await app.close()
  })
  const { port } = app.server.address() as AddressInfo

  const denied = await app.inject({ method: 'POST', url: '/api/ws-token' })
  t.equal(denied.statusCode, 401)
  const issued = await app.inject({
    method: 'POST',
    url: '/api/ws-token',
    headers: { 'x-user': 'alice' },
  })
  const { token } = issued.json<{ token: string }>()
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?ws_token=${token}`)
  sockets.push(socket)
  const client = await Client.start(socket)
  t.equal(client.status, 101)
  t.same(await client.next((m) => m.type === 'welcome'), { type: 'welcome', user: 'alice' })
  client.send({ type: 'echo', text: 'hello' })
  t.same(await client.next((m) => m.type === 'echo'), { type: 'echo', text: 'hello' })
  await app.close()
  t.ok(warden.isClosing)
  t.equal((await client.closed).code, 1012)
})
