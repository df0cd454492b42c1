import t from 'tap'
import {
  MAX_POSITIONS,
  MAX_POSITIONS_LENGTH,
  MAX_RESUME_LENGTH,
  decodePositions,
  encodePositions,
  formatResume,
  parseResume,
} from '../src/index.js'

t.test('formatResume and parseResume round-trip; malformed values are refused', async (t) => {
  t.same(parseResume(formatResume('s1', 'c.r-e_d')), { id: 's1', credential: 'c.r-e_d' })
  t.equal(parseResume(''), undefined)
  t.equal(parseResume('nodot'), undefined)
  t.equal(parseResume('.credential'), undefined)
  t.equal(parseResume('id.'), undefined)
  t.equal(parseResume(`id.${'x'.repeat(MAX_RESUME_LENGTH)}`), undefined, 'too long')
})

t.test('positions are base64url UTF-8 JSON, as Node encodes it', async (t) => {
  const positions = { all: 3, 'user:ünï😀': 12, 'channel:lobby': Number.MAX_SAFE_INTEGER }
  for (const sample of [{}, { a: 1 }, { ab: 1 }, { abc: 1 }, positions]) {
    const encoded = encodePositions(sample)
    t.equal(encoded, Buffer.from(JSON.stringify(sample)).toString('base64url'))
    t.same(decodePositions(encoded), sample)
  }
  const decoded = decodePositions(
    encodePositions({ __proto__: 5 } as unknown as Record<string, number>),
  )
  t.same(decoded && Object.keys(decoded), [], 'a __proto__ literal is no own key')
  const own = decodePositions(Buffer.from('{"__proto__":5}').toString('base64url'))
  t.equal(own && Object.getPrototypeOf(own), null, 'decoded objects have no prototype')
  t.equal(own?.['__proto__'], 5, 'so a stream named __proto__ is a plain entry')
})

t.test('decodePositions refuses anything malformed', async (t) => {
  const encode = (text: string) => Buffer.from(text).toString('base64url')
  const bad = [
    'a', // impossible length
    '*bad',
    encode('not json'),
    encode('[1,2]'),
    encode('null'),
    encode('3'),
    encode('{"":1}'),
    encode('{"all":0}'),
    encode('{"all":1.5}'),
    encode('{"all":"1"}'),
    Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url'), // not UTF-8
    encode(
      JSON.stringify(
        Object.fromEntries(Array.from({ length: MAX_POSITIONS + 1 }, (_, i) => [`s${i}`, 1])),
      ),
    ),
    'A'.repeat(MAX_POSITIONS_LENGTH + 4),
  ]
  for (const value of bad) t.equal(decodePositions(value), undefined, value.slice(0, 40))
  const most = Object.fromEntries(Array.from({ length: MAX_POSITIONS }, (_, i) => [`s${i}`, i + 1]))
  t.same(decodePositions(encodePositions(most)), most, 'MAX_POSITIONS streams are fine')
})

t.test('encodePositions leaves out the least recent streams, never the whole set', async (t) => {
  const streams = (count: number, name: (i: number) => string) =>
    Object.fromEntries(
      Array.from({ length: count }, (_, i) => [name(i), 1_700_000_000_000_000 + i]),
    )

  const many = streams(MAX_POSITIONS + 10, (i) => `s${i}`)
  const kept = decodePositions(encodePositions(many))
  t.same(Object.keys(kept ?? {}).length, MAX_POSITIONS, 'at most MAX_POSITIONS streams')
  t.equal(kept?.['s10'], many['s10'], 'the latest are kept')
  t.equal(kept?.['s9'], undefined, 'the first ones are left out')

  const long = streams(200, (i) => `channel:room-with-a-long-name-${String(i).padStart(3, '0')}`)
  const encoded = encodePositions(long)
  t.ok(encoded.length <= MAX_POSITIONS_LENGTH, `fits (${encoded.length} characters)`)
  const decoded = decodePositions(encoded)
  const names = Object.keys(decoded ?? {})
  t.ok(names.length > 0 && names.length < 200, `some left out (${names.length} kept)`)
  t.same(names, Object.keys(long).slice(200 - names.length), 'a suffix: the most recent')
  const oneMore = Object.fromEntries(Object.entries(long).slice(199 - names.length))
  t.ok(
    Buffer.from(JSON.stringify(oneMore)).toString('base64url').length > MAX_POSITIONS_LENGTH,
    'and no more would fit',
  )

  const wide = { [`channel:${'é'.repeat(3100)}`]: 1, all: 2 }
  t.same(decodePositions(encodePositions(wide)), { all: 2 }, 'UTF-8 bytes are counted')
  t.same(
    decodePositions(encodePositions({ [`x${'é'.repeat(5000)}`]: 1 })),
    {},
    'a single stream too long is left out',
  )
})
