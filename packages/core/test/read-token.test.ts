// The connect token is read from the query as URLSearchParams reads it, with or without the
// hand-split fast path.
import t from 'tap'
import { readToken } from '../src/admission.js'

const urls = [
  '/ws',
  '/ws?',
  '/ws?ws_token=abc.def-_',
  '/ws?a=1&ws_token=abc&ws_token=second',
  '/ws?ws_token',
  '/ws?ws_token=',
  '/ws?&&ws_token=x&',
  '/ws?ws_tokens=no&xws_token=no',
  '/ws?ws_token=a=b',
  '/ws?ws%5Ftoken=encoded-name',
  '/ws?ws_token=a%2Eb',
  '/ws?ws_token=a+b',
  '/ws?ws_token=%E0%A4%A',
  '/ws?x=1?ws_token=inner',
  '/ws?ws_token=one?two',
  '/?ws_token=root',
  '/ws?other=%41',
]

t.test('reads the first ws_token exactly as URLSearchParams does', async (t) => {
  for (const url of urls) {
    const query = url.indexOf('?')
    const expected =
      query === -1 ? '' : (new URLSearchParams(url.slice(query + 1)).get('ws_token') ?? '')
    t.equal(readToken(url), expected, url)
  }
  t.equal(readToken('/ws?ws_token=abc&ws_token=second'), 'abc', 'the first one')
  t.equal(readToken('/ws?ws%5Ftoken=x'), 'x', 'a percent-encoded name')
})
