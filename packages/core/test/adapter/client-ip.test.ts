import t from 'tap'
import {
  createClientIpResolver,
  ipRateLimitKey,
  type TrustProxy,
} from '../../src/adapter/client-ip.js'
import type { RequestHeaders } from '../../src/types.js'

const request = (
  remoteAddress: string | undefined,
  xff?: string | readonly string[],
): { remoteAddress: string | undefined; headers: RequestHeaders } => ({
  remoteAddress,
  headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
})

t.test(
  'without trusted proxies the socket address wins and X-Forwarded-For is ignored',
  async (t) => {
    for (const setting of [false, []] as const) {
      const resolve = createClientIpResolver(setting)
      t.equal(resolve(request('203.0.113.9', '1.1.1.1')), '203.0.113.9')
      t.equal(resolve(request('::ffff:203.0.113.9')), '203.0.113.9', 'IPv4-mapped becomes IPv4')
      t.equal(resolve(request('2001:DB8:0:0:0:0:0:1')), '2001:db8::1', 'IPv6 in canonical form')
      t.equal(resolve(request('fe80::1%eth0')), 'fe80::1', 'zone id dropped')
      t.equal(resolve(request(undefined, '1.1.1.1')), 'unknown')
      t.equal(resolve(request('')), 'unknown')
    }
  },
)

t.test('an untrusted peer cannot spoof its address with X-Forwarded-For', async (t) => {
  const resolve = createClientIpResolver(['10.0.0.1'])
  t.equal(resolve(request('203.0.113.9', '1.1.1.1')), '203.0.113.9')
  t.equal(resolve(request('203.0.113.9', ['10.0.0.1', '127.0.0.1'])), '203.0.113.9')
  t.equal(resolve(request(undefined, '1.1.1.1')), 'unknown', 'no address is never trusted')
  t.equal(resolve(request('not-an-ip', '1.1.1.1')), 'not-an-ip')
})

t.test('a trusted proxy is believed for exactly one hop', async (t) => {
  const resolve = createClientIpResolver(['10.0.0.1'])
  t.equal(resolve(request('10.0.0.1', '198.51.100.7')), '198.51.100.7')
  // The client sent its own X-Forwarded-For; the proxy appended the real address.
  t.equal(resolve(request('10.0.0.1', '6.6.6.6, 198.51.100.7')), '198.51.100.7')
  t.equal(resolve(request('10.0.0.1', '6.6.6.6,10.0.0.1')), '6.6.6.6', 'trusted hop is skipped')
  t.equal(resolve(request('10.0.0.1')), '10.0.0.1', 'no header: the proxy is the client')
  t.equal(resolve(request('10.0.0.2', '198.51.100.7')), '10.0.0.2', 'other addresses not trusted')
})

t.test('a chain of proxies in a CIDR is walked from the right', async (t) => {
  const resolve = createClientIpResolver(['10.0.0.0/8', '192.0.2.0/24'])
  t.equal(
    resolve(request('10.0.0.1', '6.6.6.6, 198.51.100.7, 192.0.2.10, 10.9.9.9')),
    '198.51.100.7',
  )
  t.equal(resolve(request('10.0.0.1', ['6.6.6.6, 198.51.100.7', '10.1.1.1'])), '198.51.100.7')
  t.equal(resolve(request('10.0.0.1', '10.3.3.3, 10.2.2.2')), '10.3.3.3', 'all trusted: left-most')
  t.equal(resolve(request('11.0.0.1', '198.51.100.7')), '11.0.0.1', 'outside the range')
})

t.test('a malformed X-Forwarded-For entry stops the walk at the last valid hop', async (t) => {
  const resolve = createClientIpResolver(['10.0.0.0/8'])
  t.equal(resolve(request('10.0.0.1', '198.51.100.7, garbage, 10.1.1.1')), '10.1.1.1')
  t.equal(resolve(request('10.0.0.1', '198.51.100.7,,10.1.1.1')), '10.1.1.1')
  t.equal(resolve(request('10.0.0.1', '198.51.100.7, unknown')), '10.0.0.1')
  t.equal(resolve(request('10.0.0.1', '')), '10.0.0.1')
  t.equal(resolve(request('10.0.0.1', '198.51.100.7, 1.2.3.4.5')), '10.0.0.1')
  t.equal(resolve(request('10.0.0.1', '198.51.100.7, 010.1.1.1')), '10.0.0.1')
})

t.test('entries with ports and brackets are read as their address', async (t) => {
  const resolve = createClientIpResolver(['10.0.0.0/8'])
  t.equal(resolve(request('10.0.0.1', '198.51.100.7:5555')), '198.51.100.7')
  t.equal(resolve(request('10.0.0.1', '[2001:DB8::7]:443')), '2001:db8::7')
  t.equal(resolve(request('10.0.0.1', '[2001:db8::8]')), '2001:db8::8')
  t.equal(resolve(request('10.0.0.1', '6.6.6.6, [10.1.1.1]:80')), '6.6.6.6')
  t.equal(resolve(request('10.0.0.1', '[nonsense]:80')), '10.0.0.1')
  t.equal(resolve(request('10.0.0.1', '198.51.100.7:123456')), '10.0.0.1', 'port too long')
})

t.test('IPv6 proxies and IPv4-mapped addresses', async (t) => {
  const v6 = createClientIpResolver(['fd00::/8', '2001:db8::1'])
  t.equal(v6(request('fd12::1', '2001:db8:1::5')), '2001:db8:1::5')
  t.equal(v6(request('2001:db8::1', '198.51.100.7')), '198.51.100.7')
  t.equal(v6(request('2001:db8::2', '198.51.100.7')), '2001:db8::2')
  t.equal(v6(request('fd12::1', '64:ff9b::192.0.2.1')), '64:ff9b::c000:201')

  const mappedPeer = createClientIpResolver(['10.0.0.0/8'])
  t.equal(mappedPeer(request('::ffff:10.0.0.1', '::ffff:198.51.100.7')), '198.51.100.7')
  t.equal(mappedPeer(request('::ffff:a00:1', '198.51.100.7')), '198.51.100.7', 'hex mapped form')

  const mappedEntry = createClientIpResolver(['::ffff:10.0.0.1'])
  t.equal(mappedEntry(request('10.0.0.1', '198.51.100.7')), '198.51.100.7')
  t.equal(mappedEntry(request('::ffff:10.0.0.1', '198.51.100.7')), '198.51.100.7')

  const mappedRange = createClientIpResolver(['::ffff:10.0.0.0/104'])
  t.equal(mappedRange(request('10.200.0.1', '198.51.100.7')), '198.51.100.7')
  t.equal(mappedRange(request('11.0.0.1', '198.51.100.7')), '11.0.0.1')
})

t.test('named ranges: loopback, linklocal, uniquelocal', async (t) => {
  const resolve = createClientIpResolver(['loopback', ' linklocal ', 'uniquelocal'])
  for (const proxy of ['127.0.0.1', '127.8.8.8', '::1', '169.254.1.1', 'fe80::1%eth0']) {
    t.equal(resolve(request(proxy, '198.51.100.7')), '198.51.100.7', proxy)
  }
  for (const proxy of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', 'fd00::1']) {
    t.equal(resolve(request(proxy, '198.51.100.7')), '198.51.100.7', proxy)
  }
  for (const outside of ['172.32.0.1', '8.8.8.8', '2001:db8::1', '::2']) {
    t.equal(resolve(request(outside, '198.51.100.7')), outside, outside)
  }
})

t.test('IPv6 results are canonical (RFC 5952)', async (t) => {
  const resolve = createClientIpResolver(['10.0.0.1'])
  const cases: Array<[string, string]> = [
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // tie: the first run is compressed
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'], // the longest run is compressed
    ['1:0:1:1:1:1:1:1', '1:0:1:1:1:1:1:1'], // a single zero group stays
    ['2001:0db8:0001:0002:0003:0004:0005:0006', '2001:db8:1:2:3:4:5:6'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
    ['1::', '1::'],
  ]
  for (const [input, expected] of cases) {
    t.equal(resolve(request('10.0.0.1', input)), expected, input)
  }
})

t.test('trustProxy is validated when the resolver is created', async (t) => {
  for (const setting of [true, 1, 'loopback', null, undefined, {}]) {
    t.throws(() => createClientIpResolver(setting as unknown as TrustProxy), {
      name: 'TypeError',
      message: /^trustProxy must be false or an array .*spoof/,
    })
  }
  const bad: unknown[] = [
    42,
    'garbage',
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0.0/8/8',
    '10.0.0.0/abc',
    '10.0.0.0/-1',
    'fd00::/129',
    '::ffff:10.0.0.0/95',
    'toString',
    '',
    '1.2.3.4 /8',
  ]
  for (const entry of bad) {
    t.throws(() => createClientIpResolver(['10.0.0.1', entry as string]), {
      name: 'TypeError',
      message: `trustProxy[1] must be an IP address, a CIDR range or one of loopback, linklocal, uniquelocal; got ${JSON.stringify(entry)}`,
    })
  }
  t.doesNotThrow(() => createClientIpResolver(['0.0.0.0/0', '::/0', '10.0.0.1/32', 'fd00::1/128']))
})

t.test('ipRateLimitKey keeps IPv4 and masks IPv6 to its /64', async (t) => {
  t.equal(ipRateLimitKey('203.0.113.9'), '203.0.113.9')
  t.equal(ipRateLimitKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(ipRateLimitKey('2001:DB8:1:2:ffff::'), '2001:db8:1:2::/64')
  t.equal(ipRateLimitKey('2001:db8:1:2::1'), ipRateLimitKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'))
  t.not(ipRateLimitKey('2001:db8:1:2::1'), ipRateLimitKey('2001:db8:1:3::1'), 'other /64')
  t.equal(ipRateLimitKey('2001:db8::9'), '2001:db8::/64')
  t.equal(ipRateLimitKey('2001:0:0:1::9'), '2001:0:0:1::/64')
  t.equal(ipRateLimitKey('::1'), '::/64')
  t.equal(ipRateLimitKey('fe80::1%eth0'), 'fe80::/64')
  t.equal(ipRateLimitKey('64:ff9b::192.0.2.1'), '64:ff9b::/64')
  t.equal(ipRateLimitKey('::ffff:203.0.113.9'), '203.0.113.9', 'IPv4-mapped counts as IPv4')
  t.equal(ipRateLimitKey('unknown'), 'unknown')
})

const withHeaders = (
  remoteAddress: string,
  headers: RequestHeaders,
  frameworkIp?: string,
): { remoteAddress: string; headers: RequestHeaders; frameworkIp?: string } => ({
  remoteAddress,
  headers,
  ...(frameworkIp !== undefined && { frameworkIp }),
})

t.test(
  'Forwarded (RFC 7239): for= of each element, quoted IPv6 with brackets, ports',
  async (t) => {
    const resolve = createClientIpResolver(['10.0.0.0/8'])
    const forwarded = (value: string | readonly string[]) =>
      resolve(withHeaders('10.0.0.1', { forwarded: value }))
    t.equal(forwarded('for=198.51.100.7'), '198.51.100.7')
    t.equal(forwarded('for=198.51.100.7;proto=https;by=10.0.0.1'), '198.51.100.7')
    t.equal(forwarded('proto=https; FOR = "198.51.100.7:4711"'), '198.51.100.7', 'any order, case')
    t.equal(forwarded('for="[2001:DB8:cafe::17]:4711"'), '2001:db8:cafe::17')
    t.equal(forwarded('for="[2001:db8::18]"'), '2001:db8::18')
    t.equal(forwarded('for=6.6.6.6, for=198.51.100.7'), '198.51.100.7', 'walked from the right')
    t.equal(forwarded('for=198.51.100.7, for=10.9.9.9'), '198.51.100.7', 'trusted hops skipped')
    t.equal(forwarded(['for=6.6.6.6', 'for=198.51.100.7']), '198.51.100.7', 'repeated header')
    t.equal(forwarded('for="a\\"b,c";by=x, for=198.51.100.7'), '198.51.100.7', 'quoted , and ;')
    t.equal(forwarded('for=198.51.100.7, for=unknown'), '10.0.0.1', 'unknown ends the walk')
    t.equal(forwarded('for=198.51.100.7, for=_hidden'), '10.0.0.1', 'obfuscated ends the walk')
    t.equal(forwarded('for=198.51.100.7, proto=https'), '10.0.0.1', 'no for= ends the walk')
    t.equal(forwarded('for=198.51.100.7, by'), '10.0.0.1', 'a pair without = is skipped')
    t.equal(forwarded('for="[nonsense]:80"'), '10.0.0.1')
    t.equal(
      resolve(withHeaders('203.0.113.9', { forwarded: 'for=1.1.1.1' })),
      '203.0.113.9',
      'an untrusted peer cannot spoof with Forwarded either',
    )
  },
)

t.test('auto: a request that carries both headers is read as coming from the proxy', async (t) => {
  const resolve = createClientIpResolver(['10.0.0.1'])
  const both = { 'x-forwarded-for': '198.51.100.7', forwarded: 'for=6.6.6.6' }
  t.equal(resolve(withHeaders('10.0.0.1', both)), '10.0.0.1')
  t.equal(resolve(withHeaders('10.0.0.1', { 'x-forwarded-for': '198.51.100.7' })), '198.51.100.7')
})

t.test('{ proxies, header } reads only the header the proxies write', async (t) => {
  const both = { 'x-forwarded-for': '198.51.100.7', forwarded: 'for=6.6.6.6' }
  const xff = createClientIpResolver({ proxies: ['10.0.0.1'], header: 'x-forwarded-for' })
  t.equal(xff(withHeaders('10.0.0.1', both)), '198.51.100.7')
  t.equal(xff(withHeaders('10.0.0.1', { forwarded: 'for=6.6.6.6' })), '10.0.0.1')
  const standard = createClientIpResolver({ proxies: ['10.0.0.1'], header: 'forwarded' })
  t.equal(standard(withHeaders('10.0.0.1', both)), '6.6.6.6')
  t.equal(standard(withHeaders('10.0.0.1', { 'x-forwarded-for': '6.6.6.6' })), '10.0.0.1')
  const none = createClientIpResolver({ proxies: [], header: 'forwarded' })
  t.equal(none(withHeaders('10.0.0.1', both)), '10.0.0.1')

  const bad: [unknown, RegExp][] = [
    [{ proxies: 'x', header: 'forwarded' }, /^trustProxy\.proxies must be an array/],
    [{ proxies: [] }, /^trustProxy\.header must be 'x-forwarded-for' or 'forwarded'/],
    [{ proxies: [], header: 'x-real-ip' }, /^trustProxy\.header must be/],
    [{ proxies: [3], header: 'forwarded' }, /^trustProxy\[0\] must be an IP address/],
  ]
  for (const [setting, message] of bad) {
    t.throws(() => createClientIpResolver(setting as TrustProxy), { name: 'TypeError', message })
  }
})

t.test(
  "the framework's resolved address wins; one that is not an address is ignored",
  async (t) => {
    for (const setting of [false, ['10.0.0.1']] as const) {
      const resolve = createClientIpResolver(setting)
      const spoof = { 'x-forwarded-for': '6.6.6.6' }
      t.equal(resolve(withHeaders('10.0.0.1', spoof, '198.51.100.7')), '198.51.100.7')
      t.equal(resolve(withHeaders('10.0.0.1', {}, '::ffff:198.51.100.8')), '198.51.100.8')
      t.equal(resolve(withHeaders('10.0.0.1', {}, '[2001:db8::9]:80')), '2001:db8::9')
    }
    t.equal(createClientIpResolver(false)(withHeaders('10.0.0.1', {}, 'nonsense')), '10.0.0.1')
    const trusted = createClientIpResolver(['10.0.0.1'])
    t.equal(
      trusted(withHeaders('10.0.0.1', { 'x-forwarded-for': '198.51.100.7' }, '')),
      '198.51.100.7',
      'an empty framework address falls back to the walk',
    )
  },
)

t.test('a forwarding header while nothing is trusted: one warning per resolver', async (t) => {
  const warnings: [object, string | undefined][] = []
  const logger = { warn: (object: object, message?: string) => warnings.push([object, message]) }
  const resolve = createClientIpResolver(false, { logger })
  t.equal(resolve(withHeaders('203.0.113.9', {})), '203.0.113.9')
  t.equal(warnings.length, 0, 'no header, no warning')
  t.equal(resolve(withHeaders('203.0.113.9', {}, '198.51.100.7')), '198.51.100.7')
  t.equal(warnings.length, 0, 'the framework trusts the proxy: no warning')
  t.equal(resolve(withHeaders('203.0.113.9', { 'x-forwarded-for': '1.1.1.1' })), '203.0.113.9')
  t.equal(resolve(withHeaders('203.0.113.9', { forwarded: 'for=1.1.1.1' })), '203.0.113.9')
  t.equal(warnings.length, 1, 'told once')
  t.match(warnings[0], [
    { event: 'untrusted_forwarding_header', header: 'x-forwarded-for' },
    /no proxy is trusted.*trustProxy/,
  ])
  const other: unknown[] = []
  const second = createClientIpResolver([], { logger: { warn: (object) => other.push(object) } })
  second(withHeaders('203.0.113.9', { forwarded: 'for=1.1.1.1' }))
  t.same(other, [{ event: 'untrusted_forwarding_header', header: 'forwarded' }], 'per resolver')
  const trusted = createClientIpResolver(['10.0.0.1'], { logger: { warn: (o) => other.push(o) } })
  trusted(withHeaders('10.0.0.1', { 'x-forwarded-for': '1.1.1.1' }))
  t.equal(other.length, 1, 'a trusted setup is not warned about')
  t.doesNotThrow(() => createClientIpResolver(false)(withHeaders('1.1.1.1', { forwarded: 'x' })))
})
