import t from 'tap'
import type { ErrorCodeValue } from '@ws-warden/protocol'
import {
  ConnectionLimitError,
  ForbiddenError,
  isWardenError,
  MessageError,
  OriginNotAllowedError,
  RateLimitedError,
  ShuttingDownError,
  StoreUnavailableError,
  UnauthorizedError,
  UnsupportedProtocolError,
  WardenError,
} from '../src/errors.js'

/** What adapters and clients read from an error: the protocol, not the message. */
const wire = (error: WardenError<string>) => ({
  name: error.name,
  code: error.code,
  message: error.message,
  status: error.status,
  closeCode: error.closeCode,
})

t.test('each error carries its code, HTTP status and close code', async (t) => {
  const cases: [WardenError<string>, ReturnType<typeof wire>][] = [
    [
      new UnauthorizedError('token_expired', 'token expired'),
      {
        name: 'UnauthorizedError',
        code: 'token_expired',
        message: 'token expired',
        status: 401,
        closeCode: 4101,
      },
    ],
    [
      new ForbiddenError(),
      {
        name: 'ForbiddenError',
        code: 'forbidden',
        message: 'permission denied',
        status: 403,
        closeCode: 4003,
      },
    ],
    [
      new ForbiddenError('not in this room'),
      {
        name: 'ForbiddenError',
        code: 'forbidden',
        message: 'not in this room',
        status: 403,
        closeCode: 4003,
      },
    ],
    [
      new OriginNotAllowedError(),
      {
        name: 'OriginNotAllowedError',
        code: 'origin_not_allowed',
        message: 'origin not allowed',
        status: 403,
        closeCode: 1008,
      },
    ],
    [
      new UnsupportedProtocolError(['ws-warden.v9']),
      {
        name: 'UnsupportedProtocolError',
        code: 'unsupported_protocol',
        message: 'unsupported subprotocol',
        status: 406,
        closeCode: 4006,
      },
    ],
    [
      new RateLimitedError(1_000),
      {
        name: 'RateLimitedError',
        code: 'rate_limited',
        message: 'rate limited',
        status: 429,
        closeCode: 4129,
      },
    ],
    [
      new ConnectionLimitError('user'),
      {
        name: 'ConnectionLimitError',
        code: 'connection_limit',
        message: 'too many connections for this user',
        status: 429,
        closeCode: 4129,
      },
    ],
    [
      new ConnectionLimitError('ip'),
      {
        name: 'ConnectionLimitError',
        code: 'connection_limit',
        message: 'too many connections for this ip',
        status: 429,
        closeCode: 4129,
      },
    ],
    [
      new ConnectionLimitError('total'),
      {
        name: 'ConnectionLimitError',
        code: 'server_full',
        message: 'server full',
        status: 503,
        closeCode: 1013,
      },
    ],
    [
      new ShuttingDownError(),
      {
        name: 'ShuttingDownError',
        code: 'shutting_down',
        message: 'shutting down',
        status: 503,
        closeCode: 1012,
      },
    ],
    [
      new StoreUnavailableError('sessions', 'sessions store failed'),
      {
        name: 'StoreUnavailableError',
        code: 'store_unavailable',
        message: 'sessions store failed',
        status: 503,
        closeCode: 1013,
      },
    ],
    [
      new MessageError('bad_channel', 'no such channel'),
      {
        name: 'MessageError',
        code: 'bad_channel',
        message: 'no such channel',
        status: 400,
        closeCode: 4100,
      },
    ],
  ]
  for (const [error, expected] of cases) {
    t.same(wire(error), expected, expected.name)
    t.ok(
      error instanceof WardenError && error instanceof Error,
      `${expected.name} is a WardenError`,
    )
  }
  t.equal(new ConnectionLimitError('ip').limit, 'ip')
  t.equal(new StoreUnavailableError('rateLimits', 'x').store, 'rateLimits')
})

t.test('a cause is kept when given and absent otherwise', async (t) => {
  const cause = new Error('ECONNREFUSED')
  const withCause = new StoreUnavailableError('sessions', 'sessions store failed', { cause })
  t.equal(withCause.cause, cause)
  t.notOk('cause' in new StoreUnavailableError('sessions', 'sessions store failed'))
  t.notOk('cause' in new WardenError('x', 'x', 500, 1011, {}))
  t.equal(new ForbiddenError('no', { cause: 'hook said no' }).cause, 'hook said no')
})

t.test('retryAfterMs is a whole, non-negative number of milliseconds', async (t) => {
  t.equal(new RateLimitedError(1_500).retryAfterMs, 1_500)
  t.equal(new RateLimitedError(0.2).retryAfterMs, 1, 'rounded up, never early')
  t.equal(new RateLimitedError(-30).retryAfterMs, 0)
  t.equal(new RateLimitedError(10, 'too many messages').message, 'too many messages')
})

t.test('isWardenError tells deliberate errors from everything else', async (t) => {
  t.equal(isWardenError(new ShuttingDownError()), true)
  t.equal(isWardenError(new WardenError('custom', 'custom', 500, 1011)), true)
  t.equal(isWardenError(new Error('plain')), false)
  t.equal(
    isWardenError({ code: 'forbidden', status: 403, closeCode: 4003 }),
    false,
    'no duck typing',
  )
  t.equal(isWardenError(undefined), false)
})

t.test('codes are typed: the ErrorCode union, widened only by MessageError', async (t) => {
  const limited: ErrorCodeValue = new RateLimitedError(1).code
  t.equal(limited, 'rate_limited')
  // @ts-expect-error a WardenError's code is one of ErrorCode's values
  const made: WardenError = new WardenError('made_up', 'made up', 500, 1011)
  t.equal(made.code, 'made_up', 'the type refuses it; the value is kept as given')
  const app = new MessageError<'bad_channel' | 'not_joined'>('not_joined', 'join first')
  const code: 'bad_channel' | 'not_joined' = app.code
  t.equal(code, 'not_joined')
  const loose: MessageError = new MessageError('anything', 'an application code')
  t.equal(loose.code, 'anything')
})
