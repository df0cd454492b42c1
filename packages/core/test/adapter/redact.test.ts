import t from 'tap'
import { redactQuery, redactToken } from '../../src/adapter/redact.js'

t.test('the connect token is cut out of a URL, and nothing else', async (t) => {
  t.equal(redactToken('/ws?ws_token=abc.def.ghi'), '/ws?ws_token=[redacted]')
  t.equal(redactToken('/ws?x=1&ws_token=abc&y=2'), '/ws?x=1&ws_token=[redacted]&y=2')
  t.equal(redactToken('/ws?ws_token=a#frag'), '/ws?ws_token=[redacted]#frag')
  t.equal(redactToken('/ws?ws_token=a&ws_token=b'), '/ws?ws_token=[redacted]&ws_token=[redacted]')
  t.equal(redactToken('/ws?my_ws_token=a'), '/ws?my_ws_token=a', 'another parameter')
  t.equal(redactToken('/ws'), '/ws')
})

t.test('the resume credential is cut out too', async (t) => {
  t.equal(
    redactToken('/ws?ws_token=a.b.c&ws_resume=sid.cred&ws_pos=x'),
    '/ws?ws_token=[redacted]&ws_resume=[redacted]&ws_pos=x',
  )
  t.equal(redactToken('/ws?ws_resume=sid.cred'), '/ws?ws_resume=[redacted]')
  t.equal(redactToken('/ws?not_ws_resume=a'), '/ws?not_ws_resume=a', 'another parameter')
})

t.test('a parsed query loses the credentials, in place, and keeps the rest', async (t) => {
  const query: Record<string, unknown> = { ws_token: 'a.b.c', ws_resume: ['s.c', 'x'], x: '1' }
  redactQuery(query)
  t.same(query, { ws_token: '[redacted]', ws_resume: '[redacted]', x: '1' })
  const plain: Record<string, unknown> = { x: '1' }
  redactQuery(plain)
  t.same(plain, { x: '1' }, 'nothing added where there was no credential')
})
