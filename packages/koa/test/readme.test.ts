import t from 'tap'
import type { Warden } from '@ws-warden/core'
import { once } from 'node:events'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import type { Server } from 'node:http'
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
  return block.replace("from '@ws-warden/koa'", "from '../src/index.js'")
}

t.test("the README's quick start runs as written", async (t) => {
  const code = await quickStart()
  t.match(code, "ws({ permissions: ['chat'] }")
  await mkdir(`${packageDir}.tmp`, { recursive: true })
  const file = `${packageDir}.tmp/readme-quick-start.ts`
  await writeFile(file, `${code}\nexport { server, warden }\n`)
  process.env.WS_TOKEN_SECRET = 'a-readme-secret-that-is-at-least-32-bytes'
  process.env.PORT = '0'
  const { server, warden } = (await import(file)) as { server: Server; warden: Warden }
  if (!server.listening) await once(server, 'listening')
  const sockets: WebSocket[] = []
  t.teardown(() => {
    for (const socket of sockets) socket.terminate()
    server.close()
  })
  const { port } = server.address() as AddressInfo

  const endpoint = `http://127.0.0.1:${port}/api/ws-token`
  t.equal((await fetch(endpoint, { method: 'POST' })).status, 401)
  const issued = await fetch(endpoint, { method: 'POST', headers: { 'x-user': 'alice' } })
  const { token } = (await issued.json()) as { token: string }
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?ws_token=${token}`)
  sockets.push(socket)
  const client = await Client.start(socket)
  t.equal(client.status, 101)
  t.same(await client.next((m) => m.type === 'welcome'), { type: 'welcome', user: 'alice' })
  client.send({ type: 'echo', text: 'hello' })
  t.same(await client.next((m) => m.type === 'echo'), { type: 'echo', text: 'hello' })
  server.close()
  t.ok(warden.isClosing, "the server's close() closes the warden")
  t.equal((await client.closed).code, 1012)
})
