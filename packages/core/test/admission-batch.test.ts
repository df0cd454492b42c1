import t from 'tap'
import type { AdmissionStore, AdmitRequest, AdmitResult } from '../src/stores.js'
import { AdmissionBatcher, DEFAULT_ADMIT_MANY_LIMIT } from '../src/stores.js'
import { StoreUnavailableError } from '../src/errors.js'

const ok: AdmitResult = Object.freeze({ ok: true })
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

function request(jti: string): AdmitRequest {
  return { attempts: [], windowMs: 1000, userId: 'u', jti, tokenExpiresAt: Date.now() + 1000 }
}

/** A store call that answers when told: the calls it got, each with its answer to give. */
function manual() {
  const calls: {
    jtis: string[]
    answer: (results?: AdmitResult[]) => void
    fail: (e: unknown) => void
  }[] = []
  const send = (requests: readonly AdmitRequest[]) =>
    new Promise<readonly AdmitResult[]>((resolve, reject) => {
      calls.push({
        jtis: requests.map((r) => r.jti),
        answer: (results) => resolve(results ?? requests.map(() => ok)),
        fail: reject,
      })
    })
  return { calls, send }
}

t.test('a lone admission leaves after one turn, alone', async (t) => {
  const { calls, send } = manual()
  const batcher = new AdmissionBatcher(send)
  const answer = batcher.admit(request('a'))
  t.equal(calls.length, 0, 'not in the same tick')
  t.equal(batcher.waiting, 1)
  await turn()
  t.same(
    calls.map((c) => c.jtis),
    [['a']],
  )
  t.equal(batcher.waiting, 0)
  calls[0]!.answer()
  t.equal(await answer, ok)
})

t.test(
  'admissions of one turn leave in one call, in order, each with its own answer',
  async (t) => {
    const { calls, send } = manual()
    const batcher = new AdmissionBatcher(send)
    const answers = ['a', 'b', 'c'].map((jti) => batcher.admit(request(jti)))
    await turn()
    t.same(
      calls.map((c) => c.jtis),
      [['a', 'b', 'c']],
    )
    const replayed: AdmitResult = { ok: false, reason: 'replayed' }
    const limit: AdmitResult = { ok: false, reason: 'limit', limit: 'user' }
    calls[0]!.answer([ok, replayed, limit])
    t.same(await Promise.all(answers), [ok, replayed, limit])
  },
)

t.test(
  'the limit splits a turn; past 2 calls out, the rest waits and leaves together',
  async (t) => {
    const { calls, send } = manual()
    const batcher = new AdmissionBatcher(send, 2)
    const answers = ['a', 'b', 'c', 'd', 'e'].map((jti) => batcher.admit(request(jti)))
    await turn()
    t.same(
      calls.map((c) => c.jtis),
      [
        ['a', 'b'],
        ['c', 'd'],
      ],
      'two calls out',
    )
    const more = ['f', 'g'].map((jti) => batcher.admit(request(jti)))
    await turn()
    t.equal(calls.length, 2, 'nothing more leaves while 2 are out')
    t.equal(batcher.waiting, 3)
    calls[1]!.answer()
    await turn()
    t.same(calls[2]?.jtis, ['e', 'f'], 'the waiting leave when one comes back, up to the limit')
    t.equal(batcher.waiting, 1)
    calls[0]!.answer()
    await turn()
    t.same(calls[3]?.jtis, ['g'])
    calls[2]!.answer()
    calls[3]!.answer()
    t.equal((await Promise.all([...answers, ...more])).length, 7)
    t.equal(batcher.waiting, 0)
  },
)

t.test(
  'a failed call rejects every admission in it as a store failure, and only those',
  async (t) => {
    const { calls, send } = manual()
    const batcher = new AdmissionBatcher(send, 1)
    const first = batcher.admit(request('a'))
    const second = batcher.admit(request('b'))
    await turn()
    const cause = new Error('connection reset')
    calls[0]!.fail(cause)
    calls[1]!.answer()
    const error = await first.then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(error instanceof StoreUnavailableError, 'a StoreUnavailableError')
    t.equal((error as StoreUnavailableError).store, 'admission')
    t.equal((error as Error).cause, cause)
    t.equal(await second, ok)
    // The batcher goes on after a failure.
    const third = batcher.admit(request('c'))
    await turn()
    calls[2]!.answer()
    t.equal(await third, ok)
  },
)

t.test('a send that throws, or answers the wrong count, rejects the whole call', async (t) => {
  const thrown = new AdmissionBatcher(() => {
    throw new Error('bad arguments')
  })
  await t.rejects(thrown.admit(request('a')), { name: 'StoreUnavailableError' })
  const short = new AdmissionBatcher(async () => [ok])
  const both = [short.admit(request('a')), short.admit(request('b'))]
  for (const answer of both) {
    await t.rejects(answer, {
      name: 'StoreUnavailableError',
      cause: { message: 'admitMany answered 1 results for 2 requests' },
    })
  }
  const notList = new AdmissionBatcher(async () => ({}) as readonly AdmitResult[])
  await t.rejects(notList.admit(request('a')), {
    cause: { message: 'admitMany answered object results for 1 requests' },
  })
})

t.test('AdmissionBatcher.of: only a store with admitMany, with its own limit', async (t) => {
  const base = { sessions: {}, tokens: {}, rateLimits: {}, admit: async () => ok }
  const send = async (requests: readonly AdmitRequest[]) => requests.map(() => ok)
  t.equal(AdmissionBatcher.of(base as unknown as AdmissionStore, send), undefined)
  const limited = { ...base, admitMany: send, admitManyLimit: 1 } as unknown as AdmissionStore
  const sizes: number[] = []
  const batcher = AdmissionBatcher.of(limited, async (requests) => {
    sizes.push(requests.length)
    return send(requests)
  })
  await Promise.all([batcher!.admit(request('a')), batcher!.admit(request('b'))])
  t.same(sizes, [1, 1], 'admitManyLimit bounds a call')
  t.equal(DEFAULT_ADMIT_MANY_LIMIT, 64)
  const unlimited = { ...base, admitMany: send } as unknown as AdmissionStore
  const gathered: number[] = []
  const wide = AdmissionBatcher.of(unlimited, async (requests) => {
    gathered.push(requests.length)
    return send(requests)
  })
  await Promise.all(Array.from({ length: 70 }, (_, i) => wide!.admit(request(`j${i}`))))
  t.same(gathered, [64, 6], 'without a limit of its own, 64')
  t.throws(
    () => AdmissionBatcher.of({ ...base, admitMany: send, admitManyLimit: 0 } as never, send),
    {
      name: 'TypeError',
      message: 'ws-warden: admitManyLimit must be a positive integer, got 0',
    },
  )
  t.throws(() => new AdmissionBatcher(send, 1.5), TypeError)
})
