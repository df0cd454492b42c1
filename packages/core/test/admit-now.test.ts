// admitNow: the same answers as admit, in this tick where every step can answer in it (an HS256
// secret, the warden's own memory stores, no onAdmit, no resumption, no observer, no tracer).
import t from 'tap'
import { generateKeyPair } from 'jose'
import type { Admission, UpgradeRequest, WardenOptions } from '../src/index.js'
import { createWarden } from '../src/index.js'
import {
  MemoryAdmissionStore,
  MemoryRateLimitStore,
  MemorySessionStore,
  MemoryTokenStore,
} from '../src/stores.js'

const SECRET = 'a-test-secret-of-at-least-32-bytes!!'
type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

function setup(t: Tap, options: Partial<WardenOptions> = {}) {
  const warden = createWarden({ tokens: { secret: SECRET }, sweeper: false, ...options })
  t.teardown(() => warden.close())
  const request = async (
    userId: string,
    extra: Partial<UpgradeRequest> = {},
    token?: string,
  ): Promise<UpgradeRequest> => ({
    url: `/ws?ws_token=${token ?? (await warden.issueToken({ userId, permissions: [] })).token}`,
    headers: {},
    remoteAddress: '198.51.100.4',
    ...extra,
  })
  return { warden, request }
}

/** The answer, and whether it came in this tick. */
async function answer(admission: Admission | Promise<Admission>) {
  return { now: !(admission instanceof Promise), admission: await admission }
}

t.test('admitted in this tick on the default stores; the ticket is a real one', async (t) => {
  const { warden, request } = setup(t, { limits: { connectionsPerUser: 1 } })
  const { now, admission } = await answer(warden.admitNow(await request('alice')))
  t.ok(now, 'not a promise')
  t.ok(admission.ok)
  if (!admission.ok) return
  t.equal(admission.ticket.principal.userId, 'alice')
  const second = await answer(warden.admitNow(await request('alice')))
  t.equal(!second.admission.ok && second.admission.error.code, 'connection_limit', 'reserved')
  admission.ticket.release()
  t.ok((await answer(warden.admitNow(await request('alice')))).admission.ok, 'released')
})

t.test('refusals of the store step come in this tick too', async (t) => {
  const { warden, request } = setup(t, {
    limits: { connectAttemptsPerIp: 3, connectionsPerUser: 1 },
  })
  const replayed = await request('alice')
  t.ok((await answer(warden.admitNow(replayed))).admission.ok)
  const again = await answer(warden.admitNow(replayed))
  t.same([again.now, !again.admission.ok && again.admission.error.code], [true, 'token_replayed'])
  const capped = await answer(warden.admitNow(await request('alice')))
  t.same(
    [capped.now, !capped.admission.ok && capped.admission.error.code],
    [true, 'connection_limit'],
  )
  const limited = await answer(warden.admitNow(await request('bob')))
  t.same(
    [limited.now, !limited.admission.ok && limited.admission.error.code],
    [true, 'rate_limited'],
  )
})

t.test('a refused token answers as admit does, its IP attempt counted once', async (t) => {
  const rejected: string[] = []
  const { warden, request } = setup(t, {
    limits: { connectAttemptsPerIp: 2 },
    hooks: { onReject: ({ error }) => rejected.push(error.code) },
  })
  const bad = await answer(warden.admitNow(await request('x', {}, 'not-a-token')))
  t.same([bad.now, !bad.admission.ok && bad.admission.error.code], [false, 'token_invalid'])
  t.ok((await answer(warden.admitNow(await request('alice')))).admission.ok, 'attempt 2 of 2')
  const third = await answer(warden.admitNow(await request('bob')))
  t.equal(!third.admission.ok && third.admission.error.code, 'rate_limited', 'attempt 3')
  t.same(rejected, ['token_invalid', 'rate_limited'], 'onReject heard each once')
})

t.test('a token of another user, or missing permissions: the promise of admit', async (t) => {
  const { warden, request } = setup(t, { permissions: ['chat'] })
  const other = await answer(warden.admitNow(await request('alice', { userId: 'mallory' })))
  t.same([other.now, !other.admission.ok && other.admission.error.code], [false, 'token_invalid'])
  const forbidden = await answer(warden.admitNow(await request('bob')))
  t.same(
    [forbidden.now, !forbidden.admission.ok && forbidden.admission.error.code],
    [false, 'forbidden'],
  )
})

t.test('every setup that cannot answer in this tick gets the promise of admit', async (t) => {
  const setups: [string, Partial<WardenOptions>][] = [
    ['onAdmit hook', { hooks: { onAdmit: (principal) => principal } }],
    ['resumption', { resumption: true }],
    ['given stores (composed calls)', { stores: { sessions: new MemorySessionStore() } }],
  ]
  for (const [name, options] of setups) {
    const { warden, request } = setup(t, options)
    const { now, admission } = await answer(warden.admitNow(await request('alice')))
    t.same([now, admission.ok], [false, true], name)
  }
  const { warden, request } = setup(t)
  const stop = warden.observe({})
  t.notOk((await answer(warden.admitNow(await request('alice')))).now, 'with an observer')
  stop()
  t.ok((await answer(warden.admitNow(await request('bob')))).now, 'and without it again')
})

t.test(
  'a given MemoryAdmissionStore answers in this tick; its failures are store failures',
  async (t) => {
    const stores = {
      sessions: new MemorySessionStore(),
      tokens: new MemoryTokenStore({ max: 1 }),
      rateLimits: new MemoryRateLimitStore(),
    }
    const { warden, request } = setup(t, {
      stores: { ...stores, admission: new MemoryAdmissionStore(stores) },
    })
    t.ok((await answer(warden.admitNow(await request('alice')))).now)
    const full = await answer(warden.admitNow(await request('bob')))
    t.ok(full.now)
    t.match(full.admission, { ok: false, error: { code: 'store_unavailable', status: 503 } })

    class Broken extends MemoryAdmissionStore {
      override admitSync(): never {
        throw new TypeError('broken')
      }
    }
    const broken = setup(t, { stores: { ...stores, admission: new Broken(stores) } })
    const failed = await answer(broken.warden.admitNow(await broken.request('carol')))
    t.ok(failed.now)
    t.match(failed.admission, {
      ok: false,
      error: { code: 'store_unavailable', store: 'admission', cause: { message: 'broken' } },
    })
  },
)

t.test('with a key pair the tokens verify with a promise: admitNow is admit', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const { warden, request } = setup(t, { tokens: { algorithm: 'ES256', publicKey, privateKey } })
  const good = await answer(warden.admitNow(await request('alice')))
  t.same([good.now, good.admission.ok], [false, true])
  // A bad token is refused once, through admit, with no promise left unhandled.
  const bad = await answer(warden.admitNow(await request('x', {}, 'not-a-token')))
  t.same([bad.now, !bad.admission.ok && bad.admission.error.code], [false, 'token_invalid'])
})
