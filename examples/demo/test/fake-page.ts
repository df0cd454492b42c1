/**
 * Runs the page's inline script in Node against a minimal stand-in for the DOM, with a real
 * `fetch` (and a cookie jar) and `ws` as the browser's WebSocket: the page's own logic talks to
 * the real server. Only what the script touches is emulated.
 */
import { readFileSync } from 'node:fs'
import WebSocket from 'ws'

const html = readFileSync(new URL('../public/index.html', import.meta.url), 'utf8')
const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1] ?? ''

type Listener = (event: { preventDefault(): void }) => unknown

class FakeElement {
  textContent = ''
  value = ''
  className = ''
  scrollTop = 0
  clientHeight = 0
  scrollHeight = 0
  readonly dataset: Record<string, string> = {}
  readonly children: FakeElement[] = []
  readonly listeners = new Map<string, Listener>()

  constructor(value = '') {
    this.value = value
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
  private cookie = ''
  private readonly storage = new Map<string, string>()
  private readonly sockets: WebSocket[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  private closed = false

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
    // The tab's timers, so closing it stops its reconnect loop.
    const timers = this.timers
    const closed = () => this.closed
    const setTimer = (run: () => void, ms: number) => {
      if (closed()) return undefined
      const timer = setTimeout(run, ms)
      timers.add(timer)
      return timer
    }
    const clearTimer = (timer: NodeJS.Timeout | undefined) => {
      if (timer) clearTimeout(timer)
    }
    const run = new Function(
      'document',
      'fetch',
      'WebSocket',
      'location',
      'sessionStorage',
      'setTimeout',
      'clearTimeout',
      script,
    )
    run(
      document,
      fetchWithCookies,
      BrowserWebSocket,
      location,
      sessionStorage,
      setTimer,
      clearTimer,
    )
  }

  get(testId: string): FakeElement {
    const element = this.elements.get(`[data-testid=${testId}]`)
    if (!element) throw new Error(`no element ${testId}`)
    return element
  }

  get status(): string {
    return this.elements.get('#status')?.textContent ?? ''
  }

  get log(): string[] {
    return (this.elements.get('#log')?.children ?? []).map((child) => child.textContent)
  }

  async submit(form: '#login' | '#channel' | '#say'): Promise<void> {
    await this.elements.get(form)?.fire('submit')
  }

  async click(button: '#leave' | '#announce'): Promise<void> {
    await this.elements.get(button)?.fire('click')
  }

  close(): void {
    this.closed = true
    for (const timer of this.timers) clearTimeout(timer)
    for (const socket of this.sockets) socket.terminate()
  }
}
