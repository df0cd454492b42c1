/**
 * NATS subjects for ws-warden topics: a validated deployment prefix and a reversible encoding of
 * topic names into one subject token.
 *
 * A NATS subject is tokens separated by `.`; a token may not be empty, contain whitespace, or be
 * the wildcard `*` or `>`. Topic names are opaque strings (`channel:general`, `user:42`, but also
 * `channel:a.b` or `user:a b`), so a topic becomes exactly one token: bytes of its UTF-8 form in
 * `[A-Za-z0-9_:-]` stay as they are, every other byte becomes `%XX` (upper-case hex), and the empty
 * topic becomes `%` alone (never produced otherwise, since `%` is always followed by two digits).
 * Encoding and decoding are inverse for every string that is well-formed UTF-16.
 *
 * @module
 */

const SAFE = /^[A-Za-z0-9_:-]$/
const HEX = '0123456789ABCDEF'
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** The one subject token that stands for `topic`. */
export function encodeTopic(topic: string): string {
  if (topic === '') return '%'
  let token = ''
  for (const char of topic) {
    if (SAFE.test(char)) {
      token += char
      continue
    }
    for (const byte of encoder.encode(char)) {
      token += `%${HEX[byte >> 4]}${HEX[byte & 15]}`
    }
  }
  return token
}

/** The topic `token` stands for; throws a `TypeError` for a token `encodeTopic` never makes. */
export function decodeTopic(token: string): string {
  if (token === '%') return ''
  const bytes: number[] = []
  for (let i = 0; i < token.length; i++) {
    const char = token[i] as string
    if (char === '%') {
      const hex = token.slice(i + 1, i + 3)
      if (!/^[0-9A-F]{2}$/.test(hex)) throw new TypeError(`ws-warden: not a topic token: ${token}`)
      bytes.push(parseInt(hex, 16))
      i += 2
    } else if (SAFE.test(char)) {
      bytes.push(char.charCodeAt(0))
    } else {
      throw new TypeError(`ws-warden: not a topic token: ${token}`)
    }
  }
  try {
    return decoder.decode(new Uint8Array(bytes))
  } catch (error) {
    throw new TypeError(`ws-warden: not a topic token: ${token}`, { cause: error })
  }
}

/**
 * Checks a deployment prefix: one or more subject tokens separated by `.` (`ws_warden`,
 * `acme.prod`), none empty, none with whitespace or a wildcard, not starting with `$` (the
 * server's own subjects). Throws a `TypeError` naming `what`.
 */
export function checkPrefix(what: string, prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix === '') {
    throw new TypeError(`ws-warden: ${what} must be a non-empty string`)
  }
  const valid = prefix
    .split('.')
    .every((token) => token !== '' && !/[\s*>]/.test(token) && !token.startsWith('$'))
  if (!valid) {
    throw new TypeError(
      `ws-warden: ${what} must be NATS subject tokens separated by dots (no spaces, wildcards or leading $): ${JSON.stringify(prefix)}`,
    )
  }
  return prefix
}
