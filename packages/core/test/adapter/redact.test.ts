import t from 'tap'
import { redactToken } from '../../src/adapter/redact.js'

t.test('the connect token is cut out of a URL, and nothing else', async (t) => {
  t.equal(redactToken('/ws?ws_token=abc.def.ghi'), '/ws?ws_token=[redacted]')
  t.equal(redactToken('/ws?x=1&ws_token=abc&y=2'), '/ws?x=1&ws_token=[redacted]&y=2')
  t.equal(redactToken('/ws?ws_token=a#frag'), '/ws?ws_token=[redacted]#frag')
  t.equal(redactToken('/ws?ws_token=a&ws_token=b'), '/ws?ws_token=[redacted]&ws_token=[redacted]')
  t.equal(redactToken('/ws?my_ws_token=a'), '/ws?my_ws_token=a', 'another parameter')
  t.equal(redactToken('/ws'), '/ws')
})
