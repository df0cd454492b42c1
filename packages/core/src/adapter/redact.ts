/**
 * Keeps credentials out of logs: the connect token and the resume credential, the one pattern
 * every adapter applies to the URLs its framework logs or hands to middleware, and to a query
 * a framework parsed before the URL was redacted.
 *
 * @module
 */
import { RESUME_QUERY_PARAM, TOKEN_QUERY_PARAM } from '@ws-warden/protocol'

const CREDENTIAL_PARAMS = [TOKEN_QUERY_PARAM, RESUME_QUERY_PARAM] as const
const REDACTED = '[redacted]'
const tokenInUrl = new RegExp(`([?&](?:${CREDENTIAL_PARAMS.join('|')})=)[^&#]*`, 'g')

/**
 * `url` with the connect token's and the resume credential's values replaced:
 * `/ws?ws_token=[redacted]&ws_resume=[redacted]&x=1`.
 */
export function redactToken(url: string): string {
  return url.replace(tokenInUrl, `$1${REDACTED}`)
}

/**
 * Replaces, in place, the connect token's and the resume credential's values in a parsed query
 * (`{ ws_token: '[redacted]', x: '1' }`); a value that is not a string (a repeated parameter a
 * parser made an array) is replaced too.
 */
export function redactQuery(query: Record<string, unknown>): void {
  for (const name of CREDENTIAL_PARAMS) {
    if (query[name] !== undefined) query[name] = REDACTED
  }
}
