/**
 * The client's IP address behind zero or more reverse proxies, with the semantics of Express's
 * `trust proxy` given an address list (the `proxy-addr` package): `X-Forwarded-For` or the
 * standard `Forwarded` header (RFC 7239) is believed only as far as the hops that appended to it
 * are trusted. An address the web framework resolved from its own trust setting wins over both.
 *
 * @module
 */
import { BlockList, isIP } from 'node:net'
import type { Logger, RequestHeaders } from '../types.js'

/**
 * Which proxies may tell us the client's address through `X-Forwarded-For` or `Forwarded`.
 *
 * - `false`: none; the client IP is the TCP peer's address.
 * - a list of addresses and CIDR ranges, IPv4 or IPv6 (`'10.0.0.1'`, `'10.0.0.0/8'`,
 *   `'fd00::/8'`), plus the names `'loopback'`, `'linklocal'` and `'uniquelocal'` for the ranges
 *   `proxy-addr` gives them. Put every proxy in front of the server here, and nothing else.
 *   Whichever of the two headers the request carries is read; a request that carries both is
 *   read as coming from the proxy itself (a client may have added the one the proxy does not
 *   write, and nothing tells which one that is).
 * - `{ proxies, header }`: the same list, reading only the header your proxies write.
 *
 * There is deliberately no `true` and no hop count: both let a client choose its own address
 * as soon as the proxy chain changes.
 */
export type TrustProxy =
  | false
  | readonly string[]
  | { readonly proxies: readonly string[]; readonly header: ForwardingHeader }

/** The request headers a proxy may name the client in. */
export type ForwardingHeader = 'x-forwarded-for' | 'forwarded'

/** What the resolver reads from an upgrade request. */
export interface ClientAddressSource {
  /** The TCP peer's address (`socket.remoteAddress`). */
  readonly remoteAddress: string | undefined
  readonly headers: RequestHeaders
  /**
   * The client IP the web framework resolved because it was told to trust the proxy (Fastify
   * `trustProxy`, Express `trust proxy`, Koa `app.proxy`). Adapters set it only then; it wins
   * over the headers and over `trustProxy`. An entry that is not an IP address is ignored.
   */
  readonly frameworkIp?: string | undefined
}

/** Options of {@link createClientIpResolver}. */
export interface ClientIpResolverOptions {
  /**
   * Told once (per resolver, so per warden) when a forwarding header arrives while no proxy is
   * trusted: every client behind that proxy then shares the proxy's limits.
   */
  readonly logger?: Pick<Logger, 'warn'>
}

/**
 * Returns the client IP of a request: an IPv4 address in dotted form, an IPv6 address in its
 * canonical RFC 5952 form (IPv4-mapped addresses become IPv4, zone ids are dropped), or
 * `'unknown'` when the socket has no address.
 */
export type ClientIpResolver = (request: ClientAddressSource) => string

const PRESETS: ReadonlyMap<string, readonly string[]> = new Map([
  ['loopback', ['127.0.0.1/8', '::1/128']],
  ['linklocal', ['169.254.0.0/16', 'fe80::/10']],
  ['uniquelocal', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']],
])

/**
 * Builds the resolver for a {@link TrustProxy} setting. Every entry is checked here, once.
 *
 * The walk: start at the socket's address; while the current hop is trusted, step to the next
 * forwarded entry to its left. The answer is the first untrusted hop, or the left-most entry if
 * every hop is trusted. An entry that is not an IP address (an empty slot, `unknown`, a host
 * name, an RFC 7239 obfuscated `_name`, a `Forwarded` element without `for=`) ends the walk at
 * the hop before it. `[v6]`, `[v6]:port` and `v4:port` entries, quoted or not, are read as the
 * address alone.
 *
 * @throws TypeError naming `trustProxy` when the setting or one of its entries is not valid.
 */
export function createClientIpResolver(
  trustProxy: TrustProxy,
  options: ClientIpResolverOptions = {},
): ClientIpResolver {
  const { proxies, header } = readSetting(trustProxy)
  const trusted = new BlockList()
  proxies.forEach((entry: unknown, index) => {
    if (typeof entry !== 'string') throw badEntry(index, entry)
    const name = entry.trim()
    const ranges = PRESETS.get(name) ?? [name]
    for (const range of ranges) {
      if (!addRange(trusted, range)) throw badEntry(index, entry)
    }
  })
  const warnOnce = once(options.logger)
  if (proxies.length === 0) {
    return (request) => {
      const framework = frameworkAddress(request)
      if (framework !== undefined) return framework
      const forwarding = FORWARDING_HEADERS.find((name) => request.headers[name] !== undefined)
      if (forwarding !== undefined) {
        warnOnce(
          { event: 'untrusted_forwarding_header', header: forwarding },
          `ws-warden: a request carries ${forwarding} but no proxy is trusted, so every client ` +
            "behind a proxy shares the proxy's IP limits; set the warden's trustProxy or your " +
            "framework's trust-proxy setting (told once)",
        )
      }
      return peerAddress(request.remoteAddress)
    }
  }

  const isTrusted = (address: string): boolean =>
    trusted.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')

  return (request) => {
    const framework = frameworkAddress(request)
    if (framework !== undefined) return framework
    let current = peerAddress(request.remoteAddress)
    // 'unknown' and other non-addresses are never trusted, so the walk never starts for them.
    if (!isTrusted(current)) return current
    const hops = forwardedHops(request.headers, header)
    for (let index = hops.length - 1; index >= 0; index--) {
      const hop = hops[index]
      if (hop === undefined) return current
      current = hop
      if (!isTrusted(current)) return current
    }
    return current
  }
}

/**
 * The key under which an IP is rate limited or capped: an IPv4 address as it is, an IPv6
 * address masked to its /64 prefix in canonical form (`2001:db8:1:2::/64`), since one
 * subscriber usually holds a whole /64 and could otherwise rotate through 2^64 keys.
 * IPv4-mapped IPv6 addresses count as their IPv4 address; anything else is returned unchanged.
 */
export function ipRateLimitKey(ip: string): string {
  const groups = parseIPv6(ip)
  if (groups === undefined) return ip
  if (isIPv4Mapped(groups)) return mappedToIPv4(groups)
  groups.fill(0, 4)
  return `${formatIPv6(groups)}/64`
}

const FORWARDING_HEADERS = ['x-forwarded-for', 'forwarded'] as const

function readSetting(trustProxy: TrustProxy): {
  proxies: readonly string[]
  header: ForwardingHeader | 'auto'
} {
  if (trustProxy === false) return { proxies: [], header: 'auto' }
  if (Array.isArray(trustProxy)) return { proxies: trustProxy, header: 'auto' }
  if (typeof trustProxy === 'object' && trustProxy !== null && 'proxies' in trustProxy) {
    const { proxies, header } = trustProxy as { proxies: unknown; header: unknown }
    if (!Array.isArray(proxies)) {
      throw new TypeError('trustProxy.proxies must be an array of proxy addresses and CIDR ranges')
    }
    if (header !== 'x-forwarded-for' && header !== 'forwarded') {
      throw new TypeError("trustProxy.header must be 'x-forwarded-for' or 'forwarded'")
    }
    return { proxies: proxies as string[], header }
  }
  throw new TypeError(
    'trustProxy must be false or an array of proxy addresses and CIDR ranges, or ' +
      '{ proxies, header } (true and hop counts are not supported: they let clients spoof ' +
      'their address)',
  )
}

function once(logger: Pick<Logger, 'warn'> | undefined): Logger['warn'] {
  let told = logger === undefined
  return (object, message) => {
    if (told) return
    told = true
    logger?.warn(object, message)
  }
}

/** The framework's resolved address, normalised; undefined when absent or not an address. */
function frameworkAddress(request: ClientAddressSource): string | undefined {
  const { frameworkIp } = request
  return frameworkIp === undefined ? undefined : parseHop(frameworkIp)
}

/**
 * The forwarded hops, left (client side) to right, as addresses; undefined for an entry that is
 * not one. With `auto`, a request that carries both headers has no hops.
 */
function forwardedHops(
  headers: RequestHeaders,
  header: ForwardingHeader | 'auto',
): (string | undefined)[] {
  const xff = headers['x-forwarded-for']
  const forwarded = headers.forwarded
  if (header === 'auto' && xff !== undefined && forwarded !== undefined) return []
  if (header === 'forwarded' || (header === 'auto' && forwarded !== undefined)) {
    return splitOutsideQuotes(joined(forwarded), ',').map(forElement)
  }
  return joined(xff)
    .split(',')
    .map((entry) => parseHop(entry))
}

function joined(header: string | readonly string[] | undefined): string {
  if (header === undefined) return ''
  return typeof header === 'string' ? header : header.join(',')
}

/** The `for=` address of one RFC 7239 element (`for=1.2.3.4;proto=https`), if it has one. */
function forElement(element: string): string | undefined {
  for (const pair of splitOutsideQuotes(element, ';')) {
    const equals = pair.indexOf('=')
    if (equals === -1 || pair.slice(0, equals).trim().toLowerCase() !== 'for') continue
    let value = pair.slice(equals + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1).replace(/\\(.)/g, '$1')
    }
    return parseHop(value)
  }
  return undefined
}

/** Splits on `separator` except inside double-quoted strings (which may escape with `\`). */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = []
  let start = 0
  let quoted = false
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (quoted && char === '\\') index++
    else if (char === '"') quoted = !quoted
    else if (!quoted && char === separator) {
      parts.push(text.slice(start, index))
      start = index + 1
    }
  }
  parts.push(text.slice(start))
  return parts
}

function badEntry(index: number, entry: unknown): TypeError {
  return new TypeError(
    `trustProxy[${index}] must be an IP address, a CIDR range or one of ` +
      `loopback, linklocal, uniquelocal; got ${JSON.stringify(entry)}`,
  )
}

/** Adds an address or CIDR to the list; false if it is not one. */
function addRange(list: BlockList, range: string): boolean {
  const parts = range.split('/')
  if (parts.length > 2) return false
  const [addressText, prefixText] = parts as [string, string | undefined]
  const address = normalizeIp(addressText)
  if (address === undefined) return false
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4'
  if (prefixText === undefined) {
    list.addAddress(address, family)
    return true
  }
  if (!/^\d{1,3}$/.test(prefixText)) return false
  let prefix = Number(prefixText)
  // An IPv4-mapped range (::ffff:10.0.0.0/104) covers IPv4 addresses, which is what a mapped
  // address is normalised to.
  if (family === 'ipv4' && isIP(addressText) === 6) prefix -= 96
  if (prefix < 0 || prefix > (family === 'ipv6' ? 128 : 32)) return false
  list.addSubnet(address, prefix, family)
  return true
}

function peerAddress(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined || remoteAddress === '') return 'unknown'
  return normalizeIp(remoteAddress) ?? remoteAddress
}

/** One forwarded entry as a normalised address, or undefined if it is not one. */
function parseHop(entry: string): string | undefined {
  const text = entry.trim()
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text)
  if (bracketed !== null) return normalizeIp(bracketed[1] as string)
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text)
  return normalizeIp(withPort === null ? text : (withPort[1] as string))
}

/**
 * An IP address in the form the rest of ws-warden compares: IPv4 as is, IPv4-mapped IPv6 as
 * IPv4, other IPv6 in RFC 5952 form without a zone id. Undefined for anything else.
 */
function normalizeIp(text: string): string | undefined {
  const family = isIP(text)
  if (family === 4) return text
  if (family === 0) return undefined
  const groups = parseIPv6(text) as number[]
  return isIPv4Mapped(groups) ? mappedToIPv4(groups) : formatIPv6(groups)
}

/** The eight 16-bit groups of an IPv6 address, or undefined if the text is not one. */
function parseIPv6(text: string): number[] | undefined {
  if (isIP(text) !== 6) return undefined
  let address = text
  const zone = address.indexOf('%')
  if (zone !== -1) address = address.slice(0, zone)
  const lastColon = address.lastIndexOf(':')
  if (address.includes('.', lastColon)) {
    // Embedded IPv4 (::ffff:1.2.3.4, 64:ff9b::1.2.3.4): rewrite it as two hex groups.
    const [a, b, c, d] = address
      .slice(lastColon + 1)
      .split('.')
      .map(Number) as [number, number, number, number]
    address = `${address.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = address.split('::') as [string, string | undefined]
  const hex = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((group) => parseInt(group, 16))
  const left = hex(head)
  if (tail === undefined) return left
  const right = hex(tail)
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
}

function isIPv4Mapped(groups: readonly number[]): boolean {
  return groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff
}

function mappedToIPv4(groups: readonly number[]): string {
  const high = groups[6] as number
  const low = groups[7] as number
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
}

/** RFC 5952: lower-case hex, no leading zeros, the longest run (2+) of zero groups as `::`. */
function formatIPv6(groups: readonly number[]): string {
  let bestStart = -1
  let bestLength = 1
  for (let start = 0; start < 8;) {
    let end = start
    while (end < 8 && groups[end] === 0) end++
    if (end - start > bestLength) {
      bestStart = start
      bestLength = end - start
    }
    start = end === start ? start + 1 : end
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((group) => group.toString(16))
      .join(':')
  if (bestStart === -1) return hex(0, 8)
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`
}
