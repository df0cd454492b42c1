import type { Handler, WardenOptions } from '@ws-warden/core'
import { eachAdapter, start } from '../harness.js'

/** A tiny chat: join a channel, say something in it, announce to everyone. */
const chat: Partial<WardenOptions> = {
  authorizeChannel: (connection, channel) =>
    channel !== 'staff' || connection.principal.permissions.includes('chat.moderate'),
  handlers: {
    join: (async ({ connection, message, warden, reply }) => {
      await warden.join(connection, String(message.channel))
      reply({ type: 'joined', channel: message.channel })
    }) satisfies Handler,
    say: (async ({ connection, message, warden }) => {
      const channel = String(message.channel)
      const text = { type: 'message', channel, from: connection.userId, text: message.text }
      await warden.toChannel(channel, text, message.others ? { except: [connection.id] } : {})
    }) satisfies Handler,
    announce: {
      permissions: ['chat.moderate'],
      handle: async ({ connection, message, warden }) => {
        await warden.broadcast({
          type: 'announcement',
          from: connection.userId,
          text: message.text,
        })
      },
    },
  },
}

eachAdapter((t, adapter) => {
  t.test('channel permissions: a join the warden refuses is answered forbidden', async (t) => {
    const { connect } = await start(t, adapter, chat)
    const user = await connect({ userId: 'u', permissions: [] })
    const admin = await connect({ userId: 'admin', permissions: ['chat.moderate'] })
    user.send({ type: 'join', channel: 'staff' })
    admin.send({ type: 'join', channel: 'staff' })
    t.match(await user.next((m) => m.type === 'error'), { code: 'forbidden', for: 'join' })
    t.ok(await admin.next((m) => m.type === 'joined'))
    admin.send({ type: 'say', channel: 'staff', text: 'psst' })
    await admin.next((m) => m.type === 'message')
    t.same(user.ofType('message'), [], 'the refused user does not hear the channel')
  })

  t.test(
    'channel delivery reaches members only, the sender included, with exclusions',
    async (t) => {
      const { connect, warden } = await start(t, adapter, chat)
      const alice = await connect('alice')
      const bob = await connect('bob')
      const carol = await connect('carol')
      for (const member of [alice, bob]) {
        member.send({ type: 'join', channel: 'room' })
        await member.next((m) => m.type === 'joined')
      }
      alice.send({ type: 'say', channel: 'room', text: 'hi' })
      const heard = { type: 'message', channel: 'room', from: 'alice', text: 'hi' }
      t.same(await bob.next((m) => m.type === 'message'), heard)
      t.same(await alice.next((m) => m.type === 'message'), heard, 'the sender too')
      alice.send({ type: 'say', channel: 'room', text: 'again', others: true })
      await bob.next((m) => m.text === 'again')
      t.same((await warden.stats()).instance.channels, { room: 2 })
      await warden.broadcast({ type: 'marker' })
      await Promise.all([alice, carol].map((client) => client.next((m) => m.type === 'marker')))
      t.same(carol.ofType('message'), [], 'not a member')
      t.same(
        alice.ofType('message').map((m) => m.text),
        ['hi'],
        'excluded from its own second message',
      )
    },
  )

  t.test('broadcast reaches every connection, once', async (t) => {
    const { connect } = await start(t, adapter, chat)
    const admin = await connect({ userId: 'admin', permissions: ['chat.moderate'] })
    const others = [await connect('a'), await connect('b'), await connect('a')]
    admin.send({ type: 'announce', text: 'maintenance at noon' })
    for (const client of [admin, ...others]) {
      t.same(await client.next((m) => m.type === 'announcement'), {
        type: 'announcement',
        from: 'admin',
        text: 'maintenance at noon',
      })
    }
    await admin.next((m) => m.type === 'announcement')
    t.same(
      [admin, ...others].map((client) => client.ofType('announcement').length),
      [1, 1, 1, 1],
    )
  })
})
