// Resumption across instances after a crash, end to end: fixture servers (test/fixtures/server.mjs)
// with `resumption` on over the Redis `history` and `resumes` stores, and the real
// `@ws-warden/client`. A client on A joins a channel; A is killed (SIGKILL); what is published
// meanwhile through B reaches the client once it resumes on B: exactly the missed messages, in
// order, nothing twice, nothing skipped. Then stolen credentials are refused, and a history that
// overflowed while the client was away is reported as incomplete.
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import {
  WardenClient,
  type ClientEvents,
  type Envelope,
  type WebSocketConstructor,
} from '@ws-warden/client'
import { Instance, buildIfStale } from './helpers/instances.js'
import { deleteKeys, randomPrefix, sharedRedis, until } from './helpers/redis.js'

/** Frames kept per stream: the overflow test publishes more than this while the client is away. */
const MAX_MESSAGES = 5
const env = { RESUMPTION: JSON.stringify({ ttlMs: 60_000, maxMessages: MAX_MESSAGES }) }

/** A gate the token provider waits on, so that the test decides when a reconnect happens. */
function gate() {
  let open: () => void = () => {}
  let promise = Promise.resolve()
  return {
    close: () => void (promise = new Promise<void>((resolve) => (open = resolve))),
    open: () => open(),
    wait: () => promise,
  }
}

/** `ws`'s WebSocket, keeping every `$session` frame the client receives (the thief reads them). */
function recording(sessions: Record<string, unknown>[]): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols)
      this.on('message', (data) => {
        const frame = JSON.parse(String(data)) as Record<string, unknown>
        if (frame.type === '$session') sessions.push(frame)
      })
    }
  } as unknown as WebSocketConstructor
}

/** Presents a resume credential from a bare socket; resolves the `$session` frame it gets. */
async function present(
  instance: Instance,
  user: string,
  session: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const resume = `${String(session.id)}.${String(session.resume)}`
  const token = await instance.token(user)
  const socket = new WebSocket(`${instance.url}?ws_token=${token}&ws_resume=${resume}`)
  try {
    return await new Promise((resolve, reject) => {
      socket.once('message', (data) => resolve(JSON.parse(String(data)) as Record<string, unknown>))
      socket.once('error', reject)
      socket.once('close', (code) => reject(new Error(`closed with ${code} before $session`)))
    })
  } finally {
    socket.terminate()
  }
}

const redis = await sharedRedis(t)

if (redis !== undefined) {
  t.test('a session resumes on another instance after a crash', async (t) => {
    buildIfStale()
    const prefix = randomPrefix()
    const [a, b, c] = await Promise.all([
      Instance.start(t, prefix, env),
      Instance.start(t, prefix, env),
      Instance.start(t, prefix, env),
    ])
    // Teardowns run in order: the servers are gone before their keys are deleted.
    t.teardown(async () => void (await deleteKeys(redis, prefix)))

    let target = a
    const reconnect = gate()
    const sessions: Record<string, unknown>[] = []
    const client = new WardenClient({
      url: () => target.url,
      token: async () => {
        await reconnect.wait()
        return target.token('alice')
      },
      WebSocket: recording(sessions),
      backoff: { initialDelayMs: 50, maxDelayMs: 200 },
    })
    t.teardown(() => client.close())
    const events: { [K in keyof ClientEvents]: ClientEvents[K][] } = {
      open: [],
      session: [],
      resumed: [],
      message: [],
      close: [],
      reconnecting: [],
      refreshed: [],
      error: [],
    }
    for (const name of Object.keys(events) as (keyof ClientEvents)[]) {
      client.on(name, (payload) => (events[name] as unknown[]).push(payload))
    }
    client.on('session', ({ resumed }) => {
      if (!resumed) client.send({ type: 'join', channel: 'room' })
    })

    const apps = () => events.message.filter((m) => m.type === 'm' || m.type === 'u')
    const texts = (messages: Envelope[]) => messages.map((m) => m.text)
    const send = (instance: Instance, to: string, text: string) =>
      instance.request(`/send?${to}`, { type: to.includes('user') ? 'u' : 'm', text })
    /** Waits until the state of the session, as Redis holds it, mentions `what`. */
    const saved = async (what: string) => {
      const key = `{${prefix}:resumes}:session:${client.sessionId}`
      await until(
        async () => ((await redis.hget(key, 's')) ?? '').includes(what),
        `the session to be saved with ${what}`,
      )
    }
    /** Kills an instance under the client, which then waits at the gate to reconnect to `next`. */
    const crash = async (t: Test, instance: Instance, next: Instance) => {
      reconnect.close()
      target = next
      const closes = events.close.length
      await instance.kill()
      await until(() => events.close.length > closes, 'the client to see the crash')
      t.not(client.state, 'open')
    }

    t.test('on A: joined, three messages received', async (t) => {
      await until(() => events.message.some((m) => m.type === 'joined'), 'the join')
      await saved('"room"') // the join's save is in the background
      await send(a, 'to=channel&name=room', 'one')
      await send(b, 'to=channel&name=room', 'two')
      await send(a, 'to=channel&name=room', 'three')
      await until(() => apps().length === 3, 'three messages')
      t.same(texts(apps()), ['one', 'two', 'three'])
      t.match(events.session, [{ resumed: false }])
    })

    t.test('A killed; what B publishes meanwhile is replayed on B, exactly', async (t) => {
      await crash(t, a, b)
      await send(b, 'to=channel&name=room', 'four')
      await send(b, 'to=user&name=alice', 'for alice')
      await send(b, 'to=channel&name=room', 'five')
      await send(b, 'to=all', 'everyone')
      await send(b, 'to=user&name=alice', 'for alice again')
      reconnect.open()
      await until(() => events.resumed.length === 1, 'the resumption on B')
      t.same(events.resumed, [{ complete: true, missed: 5, channels: ['room'] }], 'nothing lost')
      t.match(events.session.at(-1), { resumed: true, complete: true, id: sessions[0]?.id })
      await send(b, 'to=channel&name=room', 'six')
      await until(() => apps().some((m) => m.text === 'six'), 'a live message after the replay')

      const byStream = new Map<string, Envelope[]>()
      for (const message of apps()) {
        const stream = message.$s as string
        byStream.set(stream, [...(byStream.get(stream) ?? []), message])
      }
      t.same(
        texts(byStream.get('channel:room') ?? []),
        ['one', 'two', 'three', 'four', 'five', 'six'],
        'the channel in order, nothing twice, nothing skipped',
      )
      t.same(texts(byStream.get('user:alice') ?? []), ['for alice', 'for alice again'])
      t.same(texts(byStream.get('all') ?? []), ['everyone'])
      for (const [stream, messages] of byStream) {
        const seqs = messages.map((m) => m.$q as number)
        t.ok(
          seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] as number)),
          `${stream}: positions strictly increasing`,
        )
      }
      const replayed = apps().slice(3, 8)
      t.same(
        texts(replayed).sort(),
        ['everyone', 'five', 'for alice', 'for alice again', 'four'],
        'the replay came before the live message',
      )
      t.equal(events.message.filter((m) => m.type === 'joined').length, 1, 'no rejoin needed')
    })

    t.test('stolen credentials are refused on B', async (t) => {
      const used = sessions[0] as Record<string, unknown>
      const replayed = await present(b, 'alice', used)
      t.match(replayed, { type: '$session', resumed: false }, 'a used credential: fresh session')
      t.not(replayed.id, used.id)
      const current = sessions.at(-1) as Record<string, unknown>
      const thief = await present(b, 'mallory', current)
      t.match(thief, { type: '$session', resumed: false }, "another user's credential: fresh")
      t.not(thief.id, current.id)
      t.equal(client.state, 'open', 'the owner stays connected')
      t.equal(events.session.length, 2, 'and its session untouched')
    })

    t.test('B killed; the history overflowed meanwhile: the resumption on C says so', async (t) => {
      await crash(t, b, c)
      const overflow = Array.from({ length: MAX_MESSAGES + 2 }, (_, i) => `overflow ${i}`)
      for (const text of overflow) await send(c, 'to=channel&name=room', text)
      reconnect.open()
      await until(() => events.resumed.length === 2, 'the resumption on C')
      t.same(
        events.resumed[1],
        { complete: false, missed: MAX_MESSAGES, channels: ['room'] },
        'incomplete: the two oldest were dropped',
      )
      t.match(events.session.at(-1), { resumed: true, complete: false, id: sessions[0]?.id })
      // The replay follows `$session` (and so the event): a live message after it fences it.
      await send(c, 'to=channel&name=room', 'fence')
      await until(() => apps().some((m) => m.text === 'fence'), 'a live message after the replay')
      t.same(
        texts(apps().slice(9)),
        [...overflow.slice(-MAX_MESSAGES), 'fence'],
        'the messages still held, in order, then the live one: nothing else, nothing twice',
      )
    })
  })
}
