import t from 'tap'
import { checkPrefix, decodeTopic, encodeTopic } from '../src/index.js'

// What NATS accepts as one token of a subject (the server's own rule, pedantic or not).
const validToken = (token: string) => token !== '' && !/[\s.*>]/.test(token)

const topics = [
  'all',
  'control',
  'user:42',
  'channel:general',
  'channel:a.b',
  'channel:*',
  'channel:>',
  '*',
  '>',
  'user:a b',
  'tab\tnewline\n',
  'percent %41 stays itself',
  'héllo — 日本語 🎉',
  '%',
  '',
  '...',
  '$SYS.x',
]

t.test('every topic becomes one valid token and decodes back to itself', async (t) => {
  const tokens = new Set<string>()
  for (const topic of topics) {
    const token = encodeTopic(topic)
    t.ok(validToken(token), `${JSON.stringify(topic)} -> ${token} is a valid token`)
    t.equal(decodeTopic(token), topic, `${JSON.stringify(topic)} round-trips`)
    tokens.add(token)
  }
  t.equal(tokens.size, topics.length, 'distinct topics get distinct tokens')
})

t.test('the usual topics stay readable', async (t) => {
  t.equal(encodeTopic('channel:general'), 'channel:general')
  t.equal(encodeTopic('user:a.b'), 'user:a%2Eb')
  t.equal(encodeTopic('%'), '%25')
  t.equal(encodeTopic(''), '%')
  t.equal(encodeTopic('é'), '%C3%A9')
})

t.test('decodeTopic refuses what encodeTopic never makes', async (t) => {
  for (const token of ['a.b', 'a b', '%4', '%zz', '%e9', '%FF', 'é']) {
    t.throws(() => decodeTopic(token), TypeError, JSON.stringify(token))
  }
})

t.test('checkPrefix takes dotted tokens and names the option otherwise', async (t) => {
  t.equal(checkPrefix('opt', 'ws_warden'), 'ws_warden')
  t.equal(checkPrefix('opt', 'acme.prod'), 'acme.prod')
  for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a.*', 'a.>', '$SYS', 'x.$y', 7, undefined]) {
    t.throws(() => checkPrefix('NatsBroker option prefix', bad), {
      name: 'TypeError',
      message: /NatsBroker option prefix/,
    })
  }
})
