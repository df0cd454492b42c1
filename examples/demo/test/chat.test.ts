import t from 'tap'
import { startDemo, unpositioned } from './helpers.js'

t.test('two users chat in a channel; the sender gets its own message too', async (t) => {
  const { connect } = await startDemo(t)
  const alice = await connect('alice')
  const bob = await connect('bob')
  t.same(await alice.request({ type: 'join', channel: 'general' }, 'joined'), {
    type: 'joined',
    channel: 'general',
  })
  await bob.request({ type: 'join', channel: 'general' }, 'joined')
  alice.send({ type: 'say', channel: 'general', text: 'hello bob' })
  const expected = { type: 'message', channel: 'general', from: 'alice', text: 'hello bob' }
  const received = await bob.next((m) => m.type === 'message')
  t.same(unpositioned(received), expected)
  t.match(received, { $s: 'channel:general', $q: Number }, 'numbered in its stream, to resume')
  t.same(unpositioned(await alice.next((m) => m.type === 'message')), expected)

  t.same(await bob.request({ type: 'leave', channel: 'general' }, 'left'), {
    type: 'left',
    channel: 'general',
  })
  alice.send({ type: 'say', channel: 'general', text: 'still there?' })
  await alice.next((m) => m.text === 'still there?')
  t.notOk(
    bob.messages.some((m) => m.text === 'still there?'),
    'a user who left no longer receives the channel',
  )
})

t.test('staff and announcements need chat.moderate, which admin has', async (t) => {
  const { connect } = await startDemo(t)
  const alice = await connect('alice')
  const admin = await connect('admin')
  t.match(await alice.request({ type: 'join', channel: 'staff' }, 'error'), {
    code: 'forbidden',
  })
  t.same(await admin.request({ type: 'join', channel: 'staff' }, 'joined'), {
    type: 'joined',
    channel: 'staff',
  })
  t.match(await alice.request({ type: 'announce', text: 'hi all' }, 'error'), { code: 'forbidden' })
  admin.send({ type: 'announce', text: 'maintenance at noon' })
  const announcement = { type: 'announcement', from: 'admin', text: 'maintenance at noon' }
  const toAlice = await alice.next((m) => m.type === 'announcement')
  t.same(unpositioned(toAlice), announcement, 'to every connection')
  t.same(unpositioned(await admin.next((m) => m.type === 'announcement')), announcement)
})

t.test('bad messages get error frames and the connection stays open', async (t) => {
  const { connect } = await startDemo(t)
  const alice = await connect('alice')
  const cases: [unknown, string][] = [
    [{ type: 'say', channel: 'general', text: 'not joined yet' }, 'not_joined'],
    [{ type: 'leave', channel: 'general' }, 'not_joined'],
    [{ type: 'join', channel: 'Not Valid!' }, 'bad_channel'],
    [{ type: 'join' }, 'bad_channel'],
    [{ type: 'join', channel: 'x'.repeat(33) }, 'bad_channel'],
    ['{"type": "join",', 'bad_json'],
    [{ type: 'dance' }, 'unknown_type'],
    [{ type: 'announce', text: '' }, 'forbidden'],
  ]
  for (const [message, code] of cases) {
    t.match(await alice.request(message, 'error'), { type: 'error', code }, code)
  }
  await alice.request({ type: 'join', channel: 'general' }, 'joined')
  t.match(await alice.request({ type: 'say', channel: 'general', text: '   ' }, 'error'), {
    code: 'bad_message',
  })
  t.match(await alice.request({ type: 'say', channel: 'general', text: 'ok' }, 'message'), {
    text: 'ok',
  })
  t.equal(alice.socket.readyState, alice.socket.OPEN)
})

t.test('messages beyond WARDEN_MESSAGE_RATE get rate_limited', async (t) => {
  const { connect } = await startDemo(t, { WARDEN_MESSAGE_RATE: '3' })
  const alice = await connect('alice')
  for (let i = 0; i < 10; i++) alice.send({ type: 'dance' })
  t.match(await alice.next((m) => m.code === 'rate_limited'), { type: 'error' })
  t.equal(alice.socket.readyState, alice.socket.OPEN)
})
