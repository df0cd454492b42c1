import t from 'tap'
import { CloseCode, limitCloseReason, reconnectPolicy } from '../src/index.js'

t.test('reconnectPolicy classifies the three ranges and the standard codes', async (t) => {
  t.equal(reconnectPolicy(CloseCode.Forbidden), 'stop')
  t.equal(reconnectPolicy(4099), 'stop')
  t.equal(reconnectPolicy(CloseCode.Unauthorized), 'backoff')
  t.equal(reconnectPolicy(CloseCode.TooManyRequests), 'backoff')
  t.equal(reconnectPolicy(4199), 'backoff')
  t.equal(reconnectPolicy(CloseCode.ReconnectNow), 'now')
  t.equal(reconnectPolicy(4299), 'now')
  t.equal(reconnectPolicy(CloseCode.Normal), 'stop')
  t.equal(reconnectPolicy(CloseCode.PolicyViolation), 'stop')
  t.equal(reconnectPolicy(CloseCode.ServiceRestart), 'now')
  t.equal(reconnectPolicy(CloseCode.GoingAway), 'now')
  t.equal(reconnectPolicy(1006), 'backoff')
  t.equal(reconnectPolicy(CloseCode.TryAgainLater), 'backoff')
  t.equal(reconnectPolicy(4300), 'backoff')
})

t.test(
  'limitCloseReason keeps reasons within 123 bytes without splitting characters',
  async (t) => {
    t.equal(limitCloseReason('short'), 'short')
    const long = 'é'.repeat(100) // 200 bytes
    const cut = limitCloseReason(long)
    t.ok(Buffer.byteLength(cut) <= 123)
    t.equal(cut, 'é'.repeat(61))
    t.equal(limitCloseReason('a'.repeat(120) + '😀'), 'a'.repeat(120))
    t.equal(limitCloseReason('a'.repeat(119) + '😀'), 'a'.repeat(119) + '😀')
    t.equal(limitCloseReason('a'.repeat(121) + 'ह'), 'a'.repeat(121))
  },
)
