/**
 * The demo's login session: a signed, HttpOnly cookie listing the users logged in on this
 * browser, most recent last. Several users per browser let two tabs chat as two people; each
 * tab says which of them it is when it asks for a connect token. Framework-neutral: it reads a
 * `Cookie` header and writes a `Set-Cookie` value, so every adapter shares it.
 *
 * @module
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export const SESSION_COOKIE = 'demo_session'
export const USER_NAME = /^[a-z0-9_-]{1,32}$/
/** Users remembered per browser; the oldest login is forgotten first. */
const MAX_USERS = 8

const sign = (value: string, key: Buffer): string =>
  `${value}.${createHmac('sha256', key).update(value).digest('base64url')}`

/** The signed value of the session cookie in a `Cookie` header, if its signature holds. */
function unsigned(cookieHeader: string | undefined, key: Buffer): string | undefined {
  const pair = cookieHeader?.split(/;\s*/).find((part) => part.startsWith(`${SESSION_COOKIE}=`))
  if (pair === undefined) return undefined
  let signed: string
  try {
    signed = decodeURIComponent(pair.slice(SESSION_COOKIE.length + 1))
  } catch {
    return undefined
  }
  const value = signed.slice(0, Math.max(0, signed.lastIndexOf('.')))
  const expected = Buffer.from(sign(value, key))
  const actual = Buffer.from(signed)
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? value : undefined
}

/** The users of a request's session cookie; none if it is missing or its signature is wrong. */
export function sessionUsers(cookieHeader: string | undefined, key: Buffer): string[] {
  const value = unsigned(cookieHeader, key)
  return value ? value.split(',').filter((user) => USER_NAME.test(user)) : []
}

/** The `Set-Cookie` value that adds a user to the session (as its most recent login). */
export function logIn(cookieHeader: string | undefined, key: Buffer, user: string): string {
  const others = sessionUsers(cookieHeader, key).filter((other) => other !== user)
  const value = sign([...others, user].slice(-MAX_USERS).join(','), key)
  return `${SESSION_COOKIE}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax`
}

/**
 * The user a request acts as: `wanted` (the `?user=` query) if that user is logged in on this
 * browser, else the most recent login; undefined when nobody is.
 */
export function currentUser(
  cookieHeader: string | undefined,
  key: Buffer,
  wanted: unknown,
): string | undefined {
  const users = sessionUsers(cookieHeader, key)
  if (wanted === undefined) return users.at(-1)
  return typeof wanted === 'string' && users.includes(wanted) ? wanted : undefined
}
