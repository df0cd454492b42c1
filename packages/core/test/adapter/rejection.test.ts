import t from 'tap'
import {
  ConnectionLimitError,
  ForbiddenError,
  RateLimitedError,
  ShuttingDownError,
  StoreUnavailableError,
  UnauthorizedError,
} from '../../src/errors.js'
import { rejectionAnswer, retryAfterSeconds } from '../../src/adapter/rejection.js'

t.test('retryAfterSeconds: whole seconds for 429, a default for 503, none otherwise', async (t) => {
  t.equal(retryAfterSeconds(new RateLimitedError(1)), 1, 'never 0')
  t.equal(retryAfterSeconds(new RateLimitedError(0)), 1)
  t.equal(retryAfterSeconds(new RateLimitedError(1_001)), 2, 'rounded up')
  t.equal(retryAfterSeconds(new RateLimitedError(60_000)), 60)
  t.equal(retryAfterSeconds(new ConnectionLimitError('total')), 5)
  t.equal(retryAfterSeconds(new ShuttingDownError()), 5)
  t.equal(retryAfterSeconds(new StoreUnavailableError('sessions', 'down')), 5)
  t.equal(
    retryAfterSeconds(new ConnectionLimitError('user')),
    undefined,
    'a cap frees up on its own time',
  )
  t.equal(retryAfterSeconds(new UnauthorizedError('token_missing', 'token missing')), undefined)
  t.equal(retryAfterSeconds(new ForbiddenError()), undefined)
})

t.test('rejectionAnswer: the status, the code as JSON, Retry-After where it applies', async (t) => {
  t.same(rejectionAnswer(new UnauthorizedError('token_missing', 'token missing')), {
    status: 401,
    headers: {},
    body: { error: 'token_missing' },
  })
  t.same(rejectionAnswer(new RateLimitedError(2_500)), {
    status: 429,
    headers: { 'Retry-After': '3' },
    body: { error: 'rate_limited' },
  })
  t.same(rejectionAnswer(new ShuttingDownError()), {
    status: 503,
    headers: { 'Retry-After': '5' },
    body: { error: 'shutting_down' },
  })
  t.same(rejectionAnswer(new ConnectionLimitError('user')).headers, {}, 'a cap: no Retry-After')
})
