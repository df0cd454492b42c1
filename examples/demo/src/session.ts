/**
 * The demo's login session: a signed, HttpOnly cookie listing the users logged in on this
 * browser, most recent last. Several users per browser let two tabs chat as two people; each
 * tab says which of them it is when it asks for a connect token.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'

export const SESSION_COOKIE = 'demo_session'
export const USER_NAME = /^[a-z0-9_-]{1,32}$/
/** Users remembered per browser; the oldest login is forgotten first. */
const MAX_USERS = 8

/** The users of a request's session cookie; none if it is missing or its signature is wrong. */
export function sessionUsers(request: FastifyRequest): string[] {
  const raw = request.cookies[SESSION_COOKIE]
  if (raw === undefined) return []
  const { valid, value } = request.unsignCookie(raw)
  if (!valid || value === null) return []
  return value.split(',').filter((user) => USER_NAME.test(user))
}

/** Adds a user to the session (as its most recent login). */
export function logIn(request: FastifyRequest, reply: FastifyReply, user: string): void {
  const users = [...sessionUsers(request).filter((other) => other !== user), user].slice(-MAX_USERS)
  reply.setCookie(SESSION_COOKIE, users.join(','), {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    signed: true,
  })
}

/**
 * The user a request acts as: `?user=` if that user is logged in on this browser, else the most
 * recent login; undefined when nobody is.
 */
export function currentUser(request: FastifyRequest): string | undefined {
  const users = sessionUsers(request)
  const wanted = (request.query as { user?: unknown } | undefined)?.user
  if (wanted === undefined) return users.at(-1)
  return typeof wanted === 'string' && users.includes(wanted) ? wanted : undefined
}
