import net from 'node:net'

/**
 * A TCP proxy in front of a database server, to cut and restore the connection without touching
 * the server that other tests share. `reset()` closes every connection and refuses new ones
 * (the server went away); `blackhole()` keeps connections open but forwards nothing (a network
 * partition: no FIN, no RST); `restore()` drops whatever was held and lets traffic through again.
 */
export class TcpProxy {
  #mode: 'open' | 'reset' | 'blackhole' = 'open'
  readonly #sockets = new Set<net.Socket>()
  readonly #server: net.Server

  private constructor(readonly targetPort: number) {
    this.#server = net.createServer((client) => this.#accept(client))
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort)
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port
  }

  /** A copy of `url` that goes through the proxy. */
  url(url: string): string {
    const parsed = new URL(url)
    parsed.port = String(this.port)
    return parsed.toString()
  }

  reset(): void {
    this.#mode = 'reset'
    this.#destroyAll()
  }

  blackhole(): void {
    this.#mode = 'blackhole'
    for (const socket of this.#sockets) socket.unpipe().pause()
  }

  restore(): void {
    this.#destroyAll()
    this.#mode = 'open'
  }

  async close(): Promise<void> {
    this.#destroyAll()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => this.#sockets.delete(socket))
  }

  #accept(client: net.Socket): void {
    this.#track(client)
    if (this.#mode === 'reset') return void client.destroy()
    if (this.#mode === 'blackhole') return void client.pause()
    const server = net.connect(this.targetPort, '127.0.0.1')
    this.#track(server)
    client.pipe(server)
    server.pipe(client)
    client.on('close', () => server.destroy())
    server.on('close', () => client.destroy())
  }
}
