import type { Handler } from '@ws-warden/core'
import { eachAdapter, start } from '../harness.js'

const echo: Handler = ({ message, reply }) => void reply({ type: 'echo', n: message.n })

eachAdapter((t, adapter) => {
  t.test('messages reach their handler; the first ones are not lost', async (t) => {
    const { connect } = await start(t, adapter, { handlers: { echo } })
    const client = await connect()
    client.send({ type: 'echo', n: 1 })
    client.send({ type: 'echo', n: 2 })
    await client.next((m) => m.type === 'echo' && m.n === 2)
    t.same(
      client.ofType('echo').map((m) => m.n),
      [1, 2],
    )
  })

  t.test('only listed handlers run: unknown_type, bad_json; the connection stays', async (t) => {
    const { connect } = await start(t, adapter, { handlers: { echo } })
    const client = await connect()
    client.send({ type: 'toString' })
    client.send({ type: 'nope' })
    client.send('{not json')
    client.send({ type: 'echo', n: 3 })
    await client.next((m) => m.type === 'echo')
    t.same(
      client.ofType('error').map((m) => [m.code, m.for]),
      [
        ['unknown_type', 'toString'],
        ['unknown_type', 'nope'],
        ['bad_json', undefined],
      ],
    )
    t.equal(client.socket.readyState, client.socket.OPEN)
  })

  t.test('a handler that needs a permission answers forbidden to others', async (t) => {
    const announce: Handler = {
      permissions: ['chat.moderate'],
      handle: ({ reply }) => void reply({ type: 'announced' }),
    }
    const { connect } = await start(t, adapter, { handlers: { announce } })
    const user = await connect({ userId: 'u', permissions: [] })
    const admin = await connect({ userId: 'admin', permissions: ['chat.moderate'] })
    user.send({ type: 'announce' })
    admin.send({ type: 'announce' })
    t.match(await user.next((m) => m.type === 'error'), { code: 'forbidden', for: 'announce' })
    t.ok(await admin.next((m) => m.type === 'announced'))
    t.same(user.ofType('announced'), [])
  })

  t.test('a message over maxMessageBytes closes with 1009; others are unaffected', async (t) => {
    const { connect } = await start(t, adapter, {
      limits: { maxMessageBytes: 1024 },
      handlers: { echo },
    })
    const big = await connect('big')
    const other = await connect('other')
    big.send({ type: 'echo', pad: 'x'.repeat(2048) })
    t.equal((await big.closed).code, 1009)
    other.send({ type: 'echo', n: 1 })
    t.ok(await other.next((m) => m.type === 'echo'))
  })

  t.test('a message flood is limited: rate_limited, and the flooder stays', async (t) => {
    let handled = 0
    const count: Handler = () => void handled++
    const { connect } = await start(t, adapter, {
      limits: { messagesPerSecond: 10 },
      handlers: { count, echo },
    })
    const flooder = await connect('flooder')
    const calm = await connect('calm')
    for (let i = 0; i < 200; i++) flooder.send({ type: 'count' })
    await flooder.next((m) => m.type === 'error' && m.code === 'rate_limited')
    calm.send({ type: 'echo', n: 1 })
    await calm.next((m) => m.type === 'echo')
    t.ok(handled >= 10 && handled < 200, `a burst was handled, not all 200 (${handled})`)
    t.equal(flooder.ofType('error').length, 1, 'error frames are throttled')
    t.equal(flooder.socket.readyState, flooder.socket.OPEN)
  })
})
