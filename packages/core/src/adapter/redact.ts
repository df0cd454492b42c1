/**
 * Keeps the connect token out of logs: the one pattern every adapter applies to the URLs its
 * framework logs or hands to middleware.
 *
 * @module
 */
import { TOKEN_QUERY_PARAM } from '@ws-warden/protocol'

const tokenInUrl = new RegExp(`([?&]${TOKEN_QUERY_PARAM}=)[^&#]*`, 'g')

/** `url` with the connect token's value replaced: `/ws?ws_token=[redacted]&x=1`. */
export function redactToken(url: string): string {
  return url.replace(tokenInUrl, '$1[redacted]')
}
