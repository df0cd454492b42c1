/**
 * Keeps credentials out of logs: the connect token and the resume credential, the one pattern
 * every adapter applies to the URLs its framework logs or hands to middleware.
 *
 * @module
 */
import { RESUME_QUERY_PARAM, TOKEN_QUERY_PARAM } from '@ws-warden/protocol'

const tokenInUrl = new RegExp(`([?&](?:${TOKEN_QUERY_PARAM}|${RESUME_QUERY_PARAM})=)[^&#]*`, 'g')

/**
 * `url` with the connect token's and the resume credential's values replaced:
 * `/ws?ws_token=[redacted]&ws_resume=[redacted]&x=1`.
 */
export function redactToken(url: string): string {
  return url.replace(tokenInUrl, '$1[redacted]')
}
