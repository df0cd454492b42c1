/**
 * WARDEN_BROKER=nats: demo processes fan out through the NATS at NATS_URL, with the memory store
 * (messages only) and with Redis (one service in full). Skipped without NATS, unless CI=true.
 */
import t from 'tap'
import type { Test } from 'tap'
import { NatsBroker } from '@ws-warden/nats'
import { clientsOf, SECRET } from './helpers.js'
import { behavesAsOneService } from './one-service.js'
import { listening, run, stop } from './processes.js'
import { cleanRedis, REDIS_URL, serviceTest, uniquePrefix } from './services.js'

const NATS_URL = 'nats://127.0.0.1:4222'

/** Undefined if NATS answers, else why not. */
async function probe(): Promise<string | undefined> {
  const broker = new NatsBroker({ servers: NATS_URL, timeoutMs: 2_000 })
  try {
    await broker.ready()
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  } finally {
    await broker.close()
  }
}

async function natsTest(name: string, fn: (t: Test) => Promise<void>): Promise<void> {
  const problem = await probe()
  if (problem === undefined) await t.test(name, fn)
  else if (process.env.CI === 'true') {
    await t.test(name, async (t) => void t.fail(`NATS does not answer: ${problem} (CI=true)`))
  } else await t.test(name, { skip: `NATS does not answer: ${problem}` }, fn)
}

const said = (text: string) => (m: Record<string, unknown>) =>
  m.type === 'message' && m.text === text

await natsTest('WARDEN_STORE=memory WARDEN_BROKER=nats: a message crosses processes', async (t) => {
  const prefix = uniquePrefix()
  const env = {
    WARDEN_STORE: 'memory',
    WARDEN_BROKER: 'nats',
    NATS_URL,
    WARDEN_PREFIX: prefix,
    WARDEN_TOKEN_SECRET: SECRET,
  }
  const a = run(t, env)
  const b = run(t, env)
  // Another deployment on the same NATS: only the prefix differs.
  const c = run(t, { ...env, WARDEN_PREFIX: uniquePrefix() })
  const [baseA, baseB, baseC] = await Promise.all([a, b, c].map((demo) => listening(demo)))
  t.match(a.stdout(), /WARDEN_BROKER=nats: messages cross processes/, 'what is shared is said')
  const alice = await clientsOf(t, baseA as string).connect('alice')
  const bob = await clientsOf(t, baseB as string).connect('bob')
  const carol = await clientsOf(t, baseC as string).connect('carol')
  for (const [client, who] of [
    [alice, 'alice'],
    [bob, 'bob'],
    [carol, 'carol'],
  ] as const) {
    t.match(await client.request({ type: 'join', channel: 'general' }, 'joined'), {}, who)
  }
  alice.send({ type: 'say', channel: 'general', text: 'across nats' })
  t.match(await bob.next(said('across nats'), 5_000), { from: 'alice', channel: 'general' })
  carol.send({ type: 'say', channel: 'general', text: 'only here' })
  await carol.next(said('only here'), 5_000)
  // Alice's message went out before Carol's own: had it crossed prefixes, it would be here.
  t.equal(carol.messages.filter(said('across nats')).length, 0, 'prefixes share nothing')
  for (const demo of [a, b, c]) t.equal(await stop(demo), 0, 'a clean exit')
})

await natsTest('an unreachable NATS_URL stops start-up with a line naming it', async (t) => {
  const demo = run(t, { WARDEN_BROKER: 'nats', NATS_URL: 'nats://127.0.0.1:1' })
  t.equal(await demo.exited, 1)
  t.match(demo.stderr(), /NATS_URL: cannot reach NATS at nats:\/\/127\.0\.0\.1:1/)
  const bad = run(t, { WARDEN_BROKER: 'kafka' })
  t.equal(await bad.exited, 1)
  t.match(bad.stderr(), /WARDEN_BROKER: must be one of store, nats; got 'kafka'/)
})

await natsTest('WARDEN_STORE=redis WARDEN_BROKER=nats: two processes behave as one service', (t) =>
  serviceTest(
    'redis',
    'with Redis',
    (t) =>
      behavesAsOneService(t, {
        env: { WARDEN_STORE: 'redis', REDIS_URL, WARDEN_BROKER: 'nats', NATS_URL },
        adapters: ['fastify', 'koa'],
        clean: cleanRedis,
      }),
    t,
  ),
)
