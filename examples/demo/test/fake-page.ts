/**
 * Runs the page's module script in Node against a minimal stand-in for the DOM, with a real
 * `fetch` (and a cookie jar), and `@ws-warden/client` imported here in place of the page's
 * `import` (the same built files the page gets under /vendor/), on `ws` as the browser's
 * WebSocket: the page's own logic and the real client talk to the real server. Only what the
 * script touches is emulated. `test/browser.test.ts` runs the same page in Chromium.
 */
import type { ClientOptions, WebSocketConstructor } from '@ws-warden/client'
import * as clientModule from '@ws-warden/client'
import { readFileSync } from 'node:fs'
import WebSocket from 'ws'

const html = readFileSync(new URL('../public/index.html', import.meta.url), 'utf8')

/** The page's import map. */
export const importMap = JSON.parse(
  /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '{}',
) as { imports?: Record<string, string> }

const moduleSource = /<script type="module">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? ''
const IMPORT = /^\s*import\s*\{([^}]*)\}\s*from\s*'([^']+)'\s*;?[ \t]*$/gm

/** What the module imports: `{ specifier, names }` per import statement. */
export const moduleImports = [...moduleSource.matchAll(IMPORT)].map((match) => ({
  specifier: match[2] ?? '',
  names: (match[1] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== ''),
}))

/** The module's body without its imports; they become parameters. */
const script = moduleSource.replace(IMPORT, '')
for (const { specifier } of moduleImports) {
  if (specifier !== '@ws-warden/client') {
    throw new Error(`fake-page: the page imports ${specifier}; only @ws-warden/client is provided`)
  }
}
const imported = moduleImports.flatMap(({ names }) => names)
if (!imported.includes('WardenClient'))
  throw new Error('fake-page: the page does not use WardenClient')

type Listener = (event: { preventDefault(): void }) => unknown

class FakeElement {
  value = ''
  className = ''
  title = ''
  scrollTop = 0
  clientHeight = 0
  scrollHeight = 0
  readonly dataset: Record<string, string> = {}
  readonly children: FakeElement[] = []
  readonly listeners = new Map<string, Listener>()
  /** Every text this element has had, oldest first. */
  readonly texts: string[] = []
  #text = ''

  constructor(value = '') {
    this.value = value
  }

  get textContent(): string {
    return this.#text
  }

  set textContent(text: string) {
    this.#text = text
    this.texts.push(text)
  }

  append(child: FakeElement): void {
    this.children.push(child)
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, listener)
  }

  async fire(type: string): Promise<void> {
    await this.listeners.get(type)?.({ preventDefault() {} })
  }
}

/** One browser tab: its own cookie jar and session storage. */
export class FakePage {
  readonly elements = new Map<string, FakeElement>()
  /** The clients the page created, oldest first. */
  readonly clients: clientModule.WardenClient[] = []
  /** Token requests made (`POST /api/ws-token`). */
  tokenRequests = 0
  private cookie = ''
  private readonly storage = new Map<string, string>()
  private readonly sockets: WebSocket[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  private closed = false
  private tokenGate: Promise<void> | undefined
  private releaseTokens = () => {}

  constructor(private readonly base: string) {
    for (const selector of ['#status', '#log', '#channels', '#who', '#login', '#channel']) {
      this.elements.set(selector, new FakeElement())
    }
    for (const selector of ['#leave', '#say', '#announce'])
      this.elements.set(selector, new FakeElement())
    this.elements.set('[data-testid=login-name]', new FakeElement())
    this.elements.set('[data-testid=channel-name]', new FakeElement('general'))
    this.elements.set('[data-testid=message-text]', new FakeElement())
  }

  /** Loads the page: runs its script. */
  load(): void {
    const page = this.elements
    const document = {
      querySelector: (selector: string) => page.get(selector),
      createElement: () => new FakeElement(),
    }
    const fetchWithCookies = async (path: string, init: RequestInit = {}) => {
      if (path.startsWith('/api/ws-token')) {
        this.tokenRequests++
        await this.tokenGate
      }
      const response = await fetch(`${this.base}${path}`, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), cookie: this.cookie },
      })
      const set = response.headers.get('set-cookie')
      if (set) this.cookie = set.split(';')[0] ?? ''
      return response
    }
    const sockets = this.sockets
    class BrowserWebSocket extends WebSocket {
      constructor(url: string) {
        super(url)
        sockets.push(this)
        this.on('error', () => {})
      }
    }
    const location = { protocol: 'http:', host: new URL(this.base).host }
    const sessionStorage = {
      getItem: (key: string) => this.storage.get(key) ?? null,
      setItem: (key: string, value: string) => void this.storage.set(key, value),
    }
    // The tab's timers, so closing it stops every timer of its clients.
    const timers = this.timers
    const closed = () => this.closed
    const tabTimers = {
      now: () => Date.now(),
      setTimeout: (run: () => void, ms: number) => {
        if (closed()) return undefined
        const timer = setTimeout(() => {
          timers.delete(timer)
          run()
        }, ms)
        timers.add(timer)
        return timer
      },
      clearTimeout: (timer: unknown) => {
        if (timer === undefined) return
        clearTimeout(timer as NodeJS.Timeout)
        timers.delete(timer as NodeJS.Timeout)
      },
    }
    // The page's `new WardenClient(options)`, with what a browser has built in.
    const clients = this.clients
    class PageClient extends clientModule.WardenClient {
      constructor(options: ClientOptions) {
        super({
          ...options,
          WebSocket: BrowserWebSocket as unknown as WebSocketConstructor,
          timers: tabTimers,
        })
        clients.push(this)
      }
    }
    const exports: Record<string, unknown> = { ...clientModule, WardenClient: PageClient }
    const globals = { document, fetch: fetchWithCookies, location, sessionStorage }
    const names = [...Object.keys(globals), ...imported]
    const values = [...Object.values(globals), ...imported.map((name) => exports[name])]
    // A module is strict.
    const run = new Function(...names, `'use strict';\n${script}`) as (...args: unknown[]) => void
    run(...values)
  }

  get(testId: string): FakeElement {
    const element = this.elements.get(`[data-testid=${testId}]`)
    if (!element) throw new Error(`no element ${testId}`)
    return element
  }

  get status(): string {
    return this.elements.get('#status')?.textContent ?? ''
  }

  /** Every status the page has shown, oldest first. */
  get statuses(): readonly string[] {
    return this.elements.get('#status')?.texts ?? []
  }

  /** The status element's tooltip (how many messages a resumption replayed). */
  get statusTitle(): string {
    return this.elements.get('#status')?.title ?? ''
  }

  get log(): string[] {
    return (this.elements.get('#log')?.children ?? []).map((child) => child.textContent)
  }

  /** The lines of chat messages (`#channel user: text`) in the log, oldest first. */
  get messages(): string[] {
    return this.log.filter((line) => /^#[a-z0-9-]+ [a-z0-9_-]+: /.test(line))
  }

  /** The client the page uses now. */
  get client(): clientModule.WardenClient | undefined {
    return this.clients.at(-1)
  }

  async submit(form: '#login' | '#channel' | '#say'): Promise<void> {
    await this.elements.get(form)?.fire('submit')
  }

  async click(button: '#leave' | '#announce'): Promise<void> {
    await this.elements.get(button)?.fire('click')
  }

  /** Token requests wait until the returned function is called. */
  holdTokens(): () => void {
    this.releaseTokens()
    let open = () => {}
    this.tokenGate = new Promise<void>((resolve) => (open = resolve))
    this.releaseTokens = () => {
      this.tokenGate = undefined
      open()
    }
    return this.releaseTokens
  }

  /** Drops the tab's cookies (as if the session had ended). */
  forgetCookies(): void {
    this.cookie = ''
  }

  close(): void {
    this.closed = true
    for (const client of this.clients) client.close()
    for (const timer of this.timers) clearTimeout(timer)
    for (const socket of this.sockets) socket.terminate()
    this.releaseTokens()
  }
}
