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

async function join(page: FakePage, channel: string): Promise<void> {
  page.get('channel-name').value = channel
  await page.submit('#channel')
  await until(() => page.log.includes(`joined #${channel}`))
}

async function say(page: FakePage, text: string): Promise<void> {
  page.get('message-text').value = text
  await page.submit('#say')
}

t.test('without a session the page shows disconnected and stops', async (t) => {
  const { base } = await startDemo(t)
  const page = await openPage(t, base)
  t.same(page.statuses, ['connecting', 'disconnected'])
  t.equal(page.client?.state, 'closed', 'the client stopped: it never retries')
  t.equal(page.tokenRequests, 1)
})

t.test('two tabs log in as two users and chat', async (t) => {
  const { base } = await startDemo(t)
  const alice = await openPage(t, base)
  const bob = await openPage(t, base)
  await logIn(alice, 'alice')
  await logIn(bob, 'bob')
  for (const page of [alice, bob]) await join(page, 'general')
  await say(alice, 'hi bob')
  await until(() => bob.log.includes('#general alice: hi bob'))
  t.ok(alice.log.includes('#general alice: hi bob'), 'the sender sees its message')
  t.equal(alice.get('message-text').value, '', 'the input is cleared')

  bob.get('message-text').value = 'hello all'
  await bob.click('#announce')
  await until(() => bob.log.some((line) => line.startsWith('error forbidden')))

  await bob.click('#leave')
  await until(() => bob.log.includes('left #general'))
  await say(bob, 'anyone?')
  t.ok(bob.log.includes('join a channel first'))
})

t.test('reconnects with a fresh token and resumes; stops on a terminal close code', async (t) => {
  const { base, demo, http } = await startDemo(t)
  const page = await openPage(t, base)
  await logIn(page, 'alice')
  await join(page, 'room-1')
  const tokens = page.tokenRequests

  await demo.warden.disconnectUser('alice', 1012, 'restart')
  await until(() => page.status === 'resumed')
  t.ok(page.statuses.includes('reconnecting'), 'reconnecting, then resumed')
  t.ok(page.tokenRequests > tokens, 'a fresh token for the new attempt')
  t.ok(page.log.includes('connection closed (1012: restart)'))
  t.ok(page.log.includes('resumed: 0 missed messages'))
  const stats = async () => (await (await http('/api/stats')).json()) as { channels: object }
  await until(async () => JSON.stringify((await stats()).channels) === '{"room-1":1}')
  t.equal(page.log.filter((line) => line === 'joined #room-1').length, 1, 'restored, not rejoined')

  await demo.warden.disconnectUser('alice', 4003, 'banned')
  await until(() => page.status === 'disconnected')
  t.equal(page.client?.state, 'closed', 'no reconnect after 4003')
  await until(() => [...demo.warden.connections()].length === 0)
})

t.test('a tab that was away resumes and shows what it missed, in order, once', async (t) => {
  const { base, demo } = await startDemo(t)
  const alice = await openPage(t, base)
  const bob = await openPage(t, base)
  await logIn(alice, 'alice')
  await logIn(bob, 'bob')
  for (const page of [alice, bob]) await join(page, 'general')
  await say(bob, 'before')
  await until(() => alice.messages.includes('#general bob: before'))

  // Alice's tab loses its connection and cannot get a token until released: it is away.
  const release = alice.holdTokens()
  await demo.warden.disconnectUser('alice', 1012, 'restart')
  await until(() => alice.status === 'reconnecting')
  const missed = ['one', 'two', 'three']
  for (const text of missed) await say(bob, text)
  await until(() => bob.messages.includes('#general bob: three'))
  t.same(alice.messages, ['#general bob: before'], 'nothing reaches an away tab')

  release()
  await until(() => alice.status === 'resumed')
  await until(() => alice.messages.length === 4)
  t.same(
    alice.messages,
    ['before', ...missed].map((text) => `#general bob: ${text}`),
    'the missed messages, in order, none twice',
  )
  t.ok(alice.log.includes('resumed: 3 missed messages'), 'the log says how many')
  t.equal(alice.statusTitle, '3 missed messages')
  // Its channel was restored: it can talk in it without joining again.
  await say(alice, 'back')
  await until(() => bob.messages.includes('#general alice: back'))
  t.same(alice.messages.slice(4), ['#general alice: back'], 'live messages follow the replay, once')
})

t.test('a session that cannot be resumed starts fresh and joins its channels again', async (t) => {
  const first = await startDemo(t)
  const page = await openPage(t, first.base)
  await logIn(page, 'alice')
  await join(page, 'room-2')

  // The memory store dies with the server: a new one on the same port knows no session.
  const release = page.holdTokens()
  await first.demo.close()
  await until(() => page.status === 'reconnecting')
  const second = await startDemo(t, { PORT: String(first.port) })
  release()
  await until(() => page.log.filter((line) => line === 'joined #room-2').length === 2)
  t.equal(page.status, 'connected')
  t.ok(page.log.includes('could not resume: a new session, missed messages are lost'))
  const stats = (await (await second.http('/api/stats')).json()) as unknown
  t.same(stats, { connections: 1, users: 1, channels: { 'room-2': 1 } })
})

t.test('a 401 from the token endpoint stops the client: disconnected', async (t) => {
  const { base, demo } = await startDemo(t)
  const page = await openPage(t, base)
  await logIn(page, 'alice')
  page.forgetCookies()
  await demo.warden.disconnectUser('alice', 1012, 'restart')
  await until(() => page.status === 'disconnected')
  t.equal(page.client?.state, 'closed', 'no retry without a session')
  t.equal([...demo.warden.connections()].length, 0)
})
