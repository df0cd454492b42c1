import t from 'tap'
import type { Test } from 'tap'
import websocket from '@fastify/websocket'
import Fastify from 'fastify'
import type { WardenPluginOptions } from '../src/index.js'
import { wardenFastify } from '../src/index.js'
import { testWarden } from './helpers.js'

/** Registers the plugin with options as a user might pass them, typed or not. */
async function register(t: Test, options: unknown) {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(wardenFastify, options as WardenPluginOptions)
  return app
}

t.test('registration options are validated with errors that name them', async (t) => {
  const warden = testWarden(t)
  const cases: [unknown, RegExp][] = [
    [{}, /option warden must be a Warden/],
    [{ warden: {} }, /option warden must be a Warden/],
    [{ warden, getUserId: 'alice' }, /option getUserId must be a function/],
    [{ warden, websocket: 'yes' }, /option websocket must be an object/],
    [{ warden, websocket: { preClose: () => {} } }, /option websocket\.preClose is not supported/],
    [
      { warden, websocket: { options: { maxPayload: 1e9 } } },
      /websocket\.options\.maxPayload is not supported/,
    ],
    [
      { warden, websocket: { options: { perMessageDeflate: true } } },
      /websocket\.options\.perMessageDeflate is not supported/,
    ],
  ]
  for (const [options, message] of cases) {
    await t.rejects(register(t, options), { name: 'TypeError', message }, String(message))
  }
})

t.test("extra ws options reach @fastify/websocket; the limits stay the warden's", async (t) => {
  const warden = testWarden(t)
  const app = await register(t, { warden, websocket: { options: { clientTracking: true } } })
  t.equal(app.websocketServer.options.clientTracking, true)
  t.equal(app.websocketServer.options.maxPayload, 65_536)
  t.equal(app.websocketServer.options.perMessageDeflate, false)
  t.equal(app.warden, warden)
})

t.test('an empty websocket option is fine', async (t) => {
  const app = await register(t, { warden: testWarden(t), websocket: {} })
  t.equal(app.websocketServer.options.perMessageDeflate, false)
})

t.test('@fastify/websocket registered separately is refused', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  const warden = testWarden(t)
  await t.rejects(async () => {
    await app.register(wardenFastify, { warden })
  }, /@fastify\/websocket is already registered/)
})

t.test('route options are validated when the route is declared', async (t) => {
  const app = await register(t, { warden: testWarden(t) })
  t.throws(
    () => app.get('/a', { warden: true }, async () => 'not a websocket route'),
    /route \/a: option warden needs websocket: true/,
  )
  t.throws(
    () => app.get('/b', { websocket: true, warden: 'yes' as unknown as true }, () => {}),
    /route \/b: option warden must be true or \{ permissions: string\[\] \}/,
  )
  t.throws(
    () =>
      app.get(
        '/c',
        { websocket: true, warden: { permissions: 'admin' as unknown as [] } },
        () => {},
      ),
    /route \/c: option warden must be true or \{ permissions: string\[\] \}/,
  )
  t.throws(
    () => app.get('/n', { websocket: true, warden: null as unknown as true }, () => {}),
    /route \/n: option warden must be true/,
  )
  t.doesNotThrow(() => app.get('/d', { websocket: true, warden: false }, () => {}))
})
