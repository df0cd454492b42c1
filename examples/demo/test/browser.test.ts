/**
 * Issue 7's "done means", in a real browser: headless Chromium (`CHROMIUM_PATH`, else on `PATH`,
 * else Debian's `/usr/bin/chromium`; see chromium.ts), driven by `playwright-core`, which never
 * downloads a browser, opens the demo page twice; the two pages chat; the server restarts; both
 * pages resume and show exactly the messages they missed.
 *
 * A page can only miss messages while it is disconnected and some server is up, so two demo
 * processes share Redis (one service, a random `WARDEN_PREFIX` per run): page A talks to process
 * 1 and page B to process 2. Process 1 is killed (SIGKILL: no goodbye), B talks, process 1
 * restarts on its port and A resumes; then process 2 stops (SIGTERM: graceful, close 1012), A
 * talks, process 2 restarts and B resumes. Everything is read through DEMO-CONTRACT.md's
 * `data-testid`s. No assertion depends on timing; every wait is bounded.
 */
import t from 'tap'
import type { Test } from 'tap'
import type { Browser, Page } from 'playwright-core'
import { chromium } from 'playwright-core'
import { findChromium } from './chromium.js'
import { SECRET, startDemo, until } from './helpers.js'
import type { DemoProcess } from './processes.js'
import { listening, run, stop, within } from './processes.js'
import { cleanRedis, REDIS_URL, serviceTest, uniquePrefix } from './services.js'

const found = findChromium()

/** Long enough for a restart (the page backs off up to 15 s between attempts), never forever. */
const WAIT_MS = 60_000

// A browser, two demo processes each started twice, two resumptions: more than the default.
t.setTimeout(300_000)

/** The chat lines (`#channel user: text`) of a page's message log, oldest first. */
async function chat(page: Page): Promise<string[]> {
  const lines = await page.getByTestId('message-log').locator(':scope > *').allTextContents()
  return lines.filter((line) => /^#[a-z0-9-]+ [a-z0-9_-]+: /.test(line))
}

async function logLines(page: Page): Promise<string[]> {
  return page.getByTestId('message-log').locator(':scope > *').allTextContents()
}

/** Waits (bounded) until the page's connection status is `status`. */
async function status(page: Page, status: string): Promise<void> {
  await page
    .getByTestId('connection-status')
    .filter({ hasText: new RegExp(`^${status}$`) })
    .waitFor({ timeout: WAIT_MS })
}

async function statusOf(page: Page): Promise<string> {
  return ((await page.getByTestId('connection-status').textContent()) ?? '').trim()
}

async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId('message-text').fill(text)
  await page.getByTestId('message-send').click()
}

/** Waits (bounded) until the page shows the chat line. */
async function sees(page: Page, line: string): Promise<void> {
  await until(async () => (await chat(page)).includes(line), WAIT_MS)
}

/** By page: its uncaught errors and console errors, from before it loaded. */
const pageErrors = new WeakMap<Page, string[]>()

/** A page's uncaught errors only (a refused connection also logs a console error). */
const uncaught = (page: Page) =>
  (pageErrors.get(page) ?? []).filter((error) => error.startsWith('uncaught:'))

/** Opens the page in a browser context of its own (its own cookies), logs in, joins a channel. */
async function openPage(t: Test, browser: Browser, base: string, user: string): Promise<Page> {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  const errors: string[] = []
  pageErrors.set(page, errors)
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`))
  page.on('console', (message) => {
    const { url } = message.location()
    // Before the login the token endpoint answers 401, and Chromium logs it: that one is expected.
    const notLoggedIn = /status of 401/.test(message.text()) && url.endsWith('/api/ws-token')
    if (message.type() === 'error' && !notLoggedIn) errors.push(`${message.text()} (${url})`)
  })
  await page.goto(base)
  await status(page, 'disconnected') // no session yet: the token endpoint said 401
  await page.getByTestId('login-name').fill(user)
  await page.getByTestId('login-submit').click()
  await status(page, 'connected')
  await page.getByTestId('channel-name').fill('general')
  await page.getByTestId('channel-join').click()
  await until(async () => (await logLines(page)).includes('joined #general'), WAIT_MS)
  return page
}

const line = (from: string, text: string) => `#general ${from}: ${text}`

if ('error' in found) {
  t.fail(found.error)
} else {
  await t.test('in headless Chromium', async (t) => {
    let browser: Browser
    try {
      browser = await chromium.launch({ executablePath: found.path })
    } catch (error) {
      throw new Error(`cannot start ${found.path}: ${String(error)}`, { cause: error })
    }
    t.teardown(() => browser.close())
    await t.test('the page loads the client through its import map and resumes', (t) =>
      resumesInProcess(t, browser),
    )
    await serviceTest(
      'redis',
      'two pages chat, the servers restart, both pages resume',
      (t) => twoPagesResume(t, browser),
      t,
    )
  })
}

/**
 * One in-process demo on the memory store: the page's module graph loads in Chromium (import map,
 * MIME types), and a page whose connection dropped resumes with what it missed. The page is kept
 * away by holding its token requests, so that the other page talks while it is disconnected.
 */
async function resumesInProcess(t: Test, browser: Browser): Promise<void> {
  const { base, demo } = await startDemo(t)
  const a = await openPage(t, browser, base, 'alice')
  const b = await openPage(t, browser, base, 'bob')
  await say(a, 'hi')
  await sees(b, line('alice', 'hi'))

  let release = () => {}
  const held = new Promise<void>((resolve) => (release = resolve))
  await a.route('**/api/ws-token*', async (route) => {
    await held
    await route.continue()
  })
  await demo.warden.disconnectUser('alice', 1012, 'restart')
  await status(a, 'reconnecting')
  await say(b, 'are you there?')
  await sees(b, line('bob', 'are you there?'))
  t.same(await chat(a), [line('alice', 'hi')], 'A is away')
  release()
  await status(a, 'resumed')
  const expected = [line('alice', 'hi'), line('bob', 'are you there?')]
  await until(async () => (await chat(a)).length >= expected.length, WAIT_MS)
  t.same(await chat(a), expected, 'A shows the message it missed, once')
  t.ok((await logLines(a)).includes('resumed: 1 missed message'), 'and says so')
  t.same([pageErrors.get(a), pageErrors.get(b)], [[], []], 'no error in either page')
}

async function twoPagesResume(t: Test, browser: Browser): Promise<void> {
  const prefix = uniquePrefix()
  const started: DemoProcess[] = []
  const start = (env: Record<string, string>) => {
    const demo = run(t, env)
    started.push(demo)
    return demo
  }
  // The processes first (they write to Redis until they die), then their keys.
  t.teardown(async () => {
    for (const demo of started) {
      if (demo.child.exitCode === null && demo.child.signalCode === null) demo.child.kill('SIGKILL')
    }
    await within(WAIT_MS, Promise.all(started.map((demo) => demo.exited)))
    await cleanRedis(prefix)
  })
  const env = {
    WARDEN_STORE: 'redis',
    REDIS_URL,
    WARDEN_PREFIX: prefix,
    WARDEN_TOKEN_SECRET: SECRET,
    // Every page's attempts come from 127.0.0.1; this test is not about the connect limit.
    WARDEN_CONNECT_LIMIT: '1000',
  }
  const envOne = { ...env, WARDEN_ADAPTER: 'fastify' }
  const envTwo = { ...env, WARDEN_ADAPTER: 'koa' }
  let one = start(envOne)
  let two = start(envTwo)
  const [baseOne, baseTwo] = await Promise.all([listening(one), listening(two)])
  if (/session resumption is off/.test(one.stdout() + one.stderr())) {
    t.fail('@ws-warden/redis has no history and resumes stores: the demo cannot resume on Redis')
    return
  }
  const portOne = new URL(baseOne).port
  const portTwo = new URL(baseTwo).port

  const a = await openPage(t, browser, baseOne, 'alice')
  const b = await openPage(t, browser, baseTwo, 'bob')

  // The pages chat, across the two processes.
  await say(a, 'hello bob')
  await sees(b, line('alice', 'hello bob'))
  await say(b, 'hello alice')
  await sees(a, line('bob', 'hello alice'))
  const before = [line('alice', 'hello bob'), line('bob', 'hello alice')]
  t.same(await chat(a), before, 'A sees both messages')
  t.same(await chat(b), before, 'B sees both messages')

  // Process 1 dies without a goodbye. While A is disconnected, B talks.
  one.child.kill('SIGKILL')
  await within(WAIT_MS, one.exited)
  await status(a, 'reconnecting')
  const missedByA = ['while you were away', 'one more', 'and a third']
  for (const text of missedByA) await say(b, text)
  for (const text of missedByA) await sees(b, line('bob', text))
  t.same(await chat(a), before, 'nothing reaches A while its server is down')

  // Process 1 comes back on its port: A resumes and shows what it missed, in order, once.
  one = start({ ...envOne, PORT: portOne })
  t.equal(await listening(one), baseOne, 'process 1 is back on its port')
  await status(a, 'resumed')
  const expectedA = [...before, ...missedByA.map((text) => line('bob', text))]
  await until(async () => (await chat(a)).length >= expectedA.length, WAIT_MS)
  t.same(await chat(a), expectedA, 'A shows exactly the messages it missed, in order')
  t.ok((await logLines(a)).includes('resumed: 3 missed messages'), 'A says how many it missed')
  t.equal(await statusOf(a), 'resumed', "A's status says resumed")

  // Its channel was restored with the session: A talks without joining again.
  await say(a, 'back again')
  await sees(b, line('alice', 'back again'))
  await sees(a, line('alice', 'back again'))
  const afterA = [...expectedA, line('alice', 'back again')]
  t.same(await chat(a), afterA, 'then live messages, once')
  t.same(await chat(b), afterA, 'B saw all of it live')
  t.equal(
    (await logLines(a)).filter((entry) => entry === 'joined #general').length,
    1,
    'A did not have to join again',
  )

  // Process 2 shuts down gracefully (1012: restarting). While B is disconnected, A talks.
  t.equal(await stop(two), 0, 'process 2 shut down gracefully')
  await status(b, 'reconnecting')
  const missedByB = ['did you hear that?', 'bob is gone']
  for (const text of missedByB) await say(a, text)
  for (const text of missedByB) await sees(a, line('alice', text))
  t.same(await chat(b), afterA, 'nothing reaches B while its server is down')

  // Process 2 comes back: B resumes too.
  two = start({ ...envTwo, PORT: portTwo })
  t.equal(await listening(two), baseTwo, 'process 2 is back on its port')
  await status(b, 'resumed')
  const expectedB = [...afterA, ...missedByB.map((text) => line('alice', text))]
  await until(async () => (await chat(b)).length >= expectedB.length, WAIT_MS)
  t.same(await chat(b), expectedB, 'B shows exactly the messages it missed, in order')
  t.ok((await logLines(b)).includes('resumed: 2 missed messages'), 'B says how many it missed')
  t.equal(await statusOf(b), 'resumed', "B's status says resumed")
  t.same(await chat(a), expectedB, 'A saw its own messages once')

  t.same([uncaught(a), uncaught(b)], [[], []], 'no uncaught error in either page')
  t.same(await Promise.all([stop(one), stop(two)]), [0, 0], 'both processes shut down gracefully')
}
