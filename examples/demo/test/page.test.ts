import t from 'tap'
import type { Test } from 'tap'
import { FakePage } from './fake-page.js'
import { startDemo, until } from './helpers.js'

async function openPage(t: Test, base: string): Promise<FakePage> {
  const page = new FakePage(base)
  t.teardown(() => page.close())
  page.load()
  await until(() => page.status === 'disconnected', 2_000)
  return page
}

async function logIn(page: FakePage, user: string): Promise<void> {
  page.get('login-name').value = user
  await page.submit('#login')
  await until(() => page.status === 'connected')
}

t.test('two tabs log in as two users and chat', async (t) => {
  const { base } = await startDemo(t)
  const alice = await openPage(t, base)
  const bob = await openPage(t, base)
  await logIn(alice, 'alice')
  await logIn(bob, 'bob')
  for (const page of [alice, bob]) {
    await page.submit('#channel')
    await until(() => page.log.includes('joined #general'))
  }
  alice.get('message-text').value = 'hi bob'
  await alice.submit('#say')
  await until(() => bob.log.includes('#general alice: hi bob'))
  t.ok(alice.log.includes('#general alice: hi bob'), 'the sender sees its message')
  t.equal(alice.get('message-text').value, '', 'the input is cleared')

  bob.get('message-text').value = 'hello all'
  await bob.click('#announce')
  await until(() => bob.log.some((line) => line.startsWith('error forbidden')))

  await bob.click('#leave')
  await until(() => bob.log.includes('left #general'))
  bob.get('message-text').value = 'anyone?'
  await bob.submit('#say')
  t.ok(bob.log.includes('join a channel first'))
})

t.test('reconnects with a fresh token and re-joins; stops on a terminal close code', async (t) => {
  const { base, demo, http } = await startDemo(t)
  const page = await openPage(t, base)
  await logIn(page, 'alice')
  page.get('channel-name').value = 'room-1'
  await page.submit('#channel')
  await until(() => page.log.includes('joined #room-1'))

  await demo.warden.disconnectUser('alice', 1012, 'restart')
  await until(() => page.status === 'reconnecting')
  await until(() => page.status === 'connected')
  const stats = async () => (await (await http('/api/stats')).json()) as { channels: object }
  await until(async () => JSON.stringify((await stats()).channels) === '{"room-1":1}')

  await demo.warden.disconnectUser('alice', 4003, 'banned')
  await until(() => page.status === 'disconnected')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(page.status, 'disconnected', 'no reconnect after 4003')
  t.equal([...demo.warden.connections()].length, 0)
})
