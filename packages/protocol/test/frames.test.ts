import t from 'tap'
import {
  ALL_STREAM,
  FrameType,
  channelStream,
  isReservedType,
  isSeq,
  positionOf,
  parseStream,
  streamOf,
  userStream,
  withPosition,
} from '../src/index.js'

t.test('reserved types are the $-prefixed ones, and every FrameType is reserved', async (t) => {
  t.equal(isReservedType('$session'), true)
  t.equal(isReservedType('$anything'), true)
  t.equal(isReservedType('chat'), false)
  t.equal(isReservedType('a$'), false)
  for (const type of Object.values(FrameType)) t.equal(isReservedType(type), true, type)
})

t.test('stream names', async (t) => {
  t.equal(ALL_STREAM, 'all')
  t.equal(channelStream('lobby'), 'channel:lobby')
  t.equal(userStream('u:1'), 'user:u:1')
  t.equal(streamOf.all, 'all')
  t.equal(streamOf.channel('lobby'), 'channel:lobby')
  t.equal(streamOf.user('u:1'), 'user:u:1')
})

t.test('parseStream reads back what streamOf builds, and nothing else', async (t) => {
  t.same(parseStream('all'), { kind: 'all' })
  t.same(parseStream(streamOf.channel('a:b')), { kind: 'channel', channel: 'a:b' })
  t.same(parseStream(streamOf.channel('')), { kind: 'channel', channel: '' })
  t.same(parseStream(streamOf.user('u:1')), { kind: 'user', userId: 'u:1' })
  t.equal(parseStream('control'), undefined)
  t.equal(parseStream('All'), undefined)
  t.equal(parseStream('channels:x'), undefined)
})

t.test('withPosition adds $s and $q to serialized JSON without re-serializing it', async (t) => {
  const text = JSON.stringify({ type: 'chat', text: 'he said "}"', n: [1, { a: 2 }] })
  const stamped = withPosition(text, 'channel:"odd"}', 42)
  t.same(JSON.parse(stamped), {
    type: 'chat',
    text: 'he said "}"',
    n: [1, { a: 2 }],
    $s: 'channel:"odd"}',
    $q: 42,
  })
  t.equal(stamped.startsWith(text.slice(0, -1)), true, 'the original text is kept as it was')
  t.same(JSON.parse(withPosition('{"type":"x","$q":1}', 'all', 9)), { type: 'x', $q: 9, $s: 'all' })
})

t.test('positionOf reads a valid position and nothing else', async (t) => {
  t.same(positionOf({ type: 'x', $s: 'all', $q: 3 }), { stream: 'all', seq: 3 })
  t.equal(positionOf({ type: 'x' }), undefined)
  t.equal(positionOf({ type: 'x', $s: '', $q: 3 }), undefined)
  t.equal(positionOf({ type: 'x', $s: 7, $q: 3 }), undefined)
  for (const seq of [0, -1, 1.5, '3', Number.MAX_SAFE_INTEGER + 1, Infinity, null]) {
    t.equal(positionOf({ type: 'x', $s: 'all', $q: seq }), undefined, String(seq))
  }
  t.equal(isSeq(Number.MAX_SAFE_INTEGER), true)
})
