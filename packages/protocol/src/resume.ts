/**
 * What a reconnecting client puts in its connect URL to resume a session: its credential and the
 * last sequence number it saw in each stream.
 *
 * ```
 * /ws?ws_token=<fresh connect token>&ws_resume=<session id>.<credential>&ws_pos=<positions>
 * ```
 *
 * `ws_pos` is the base64url (RFC 4648 §5, no padding) of the UTF-8 JSON object
 * `{ "<stream>": <last seq>, ... }`, at most {@link MAX_POSITIONS} streams and
 * {@link MAX_POSITIONS_LENGTH} characters.
 *
 * @module
 */
import { isSeq } from './frames.js'

/** The query parameter that carries `<session id>.<credential>`. */
export const RESUME_QUERY_PARAM = 'ws_resume'
/** The query parameter that carries the encoded stream positions. */
export const POSITIONS_QUERY_PARAM = 'ws_pos'
/** The most streams `ws_pos` may name; a client keeps the latest ones. */
export const MAX_POSITIONS = 256
/** The longest `ws_pos` the server reads, in characters. */
export const MAX_POSITIONS_LENGTH = 8192
/** The longest `ws_resume` the server reads, in characters. */
export const MAX_RESUME_LENGTH = 256

/** Last sequence number seen, by stream. */
export type Positions = Readonly<Record<string, number>>

/** `<id>.<credential>`; the id must not contain a dot. */
export function formatResume(id: string, credential: string): string {
  return `${id}.${credential}`
}

/** Splits `ws_resume`; undefined if it is malformed. */
export function parseResume(value: string): { id: string; credential: string } | undefined {
  if (value.length > MAX_RESUME_LENGTH) return undefined
  const dot = value.indexOf('.')
  if (dot <= 0 || dot === value.length - 1) return undefined
  return { id: value.slice(0, dot), credential: value.slice(dot + 1) }
}

/** The most UTF-8 bytes of JSON whose base64url fits {@link MAX_POSITIONS_LENGTH}. */
const MAX_POSITIONS_BYTES = Math.floor((MAX_POSITIONS_LENGTH * 3) / 4)

/**
 * Encodes positions for `ws_pos`. Entries are taken in insertion order, least recent first: when
 * there are more than {@link MAX_POSITIONS} or the encoding would pass
 * {@link MAX_POSITIONS_LENGTH}, the first ones are left out (the server replays a stream it has no
 * position for from where the session joined it), never the whole set.
 */
export function encodePositions(positions: Positions): string {
  const entries = Object.entries(positions)
  let bytes = 2 // the braces
  let first = entries.length
  while (first > 0 && entries.length - first < MAX_POSITIONS) {
    const [stream, seq] = entries[first - 1] as [string, number]
    const size = toUtf8Binary(JSON.stringify(stream)).length + 1 + String(seq).length
    const next = bytes + size + (first === entries.length ? 0 : 1)
    if (next > MAX_POSITIONS_BYTES) break
    bytes = next
    first--
  }
  const kept = first === 0 ? positions : Object.fromEntries(entries.slice(first))
  return toBase64Url(toUtf8Binary(JSON.stringify(kept)))
}

/**
 * Decodes `ws_pos`. Anything malformed (too long, not base64url, not UTF-8 JSON, not an object of
 * positive safe integers, too many entries) yields undefined: positions come from the client and
 * are only ever a hint the server bounds by what the session may read.
 */
export function decodePositions(value: string): Positions | undefined {
  if (value.length > MAX_POSITIONS_LENGTH) return undefined
  const binary = fromBase64Url(value)
  if (binary === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(fromUtf8Binary(binary))
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
  const entries = Object.entries(parsed)
  if (entries.length > MAX_POSITIONS) return undefined
  const positions: Record<string, number> = Object.create(null) as Record<string, number>
  for (const [stream, seq] of entries) {
    if (stream === '' || !isSeq(seq)) return undefined
    positions[stream] = seq
  }
  return positions
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const INDEX: Readonly<Record<string, number>> = Object.fromEntries(
  [...ALPHABET].map((char, index) => [char, index]),
)

/** A string's UTF-8 bytes, one char code (0–255) per byte. */
function toUtf8Binary(text: string): string {
  return encodeURIComponent(text).replace(/%([0-9A-F]{2})/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  )
}

/** The inverse of {@link toUtf8Binary}; throws `URIError` on bytes that are not UTF-8. */
function fromUtf8Binary(binary: string): string {
  let escaped = ''
  for (let i = 0; i < binary.length; i++) {
    escaped += `%${binary.charCodeAt(i).toString(16).padStart(2, '0')}`
  }
  return decodeURIComponent(escaped)
}

function toBase64Url(binary: string): string {
  let out = ''
  for (let i = 0; i < binary.length; i += 3) {
    const a = binary.charCodeAt(i)
    const b = i + 1 < binary.length ? binary.charCodeAt(i + 1) : -1
    const c = i + 2 < binary.length ? binary.charCodeAt(i + 2) : -1
    out += ALPHABET[a >> 2]
    out += ALPHABET[((a & 3) << 4) | (b === -1 ? 0 : b >> 4)]
    if (b !== -1) out += ALPHABET[((b & 15) << 2) | (c === -1 ? 0 : c >> 6)]
    if (c !== -1) out += ALPHABET[c & 63]
  }
  return out
}

function fromBase64Url(text: string): string | undefined {
  if (text.length % 4 === 1) return undefined
  let out = ''
  let bits = 0
  let buffer = 0
  for (const char of text) {
    const value = INDEX[char]
    if (value === undefined) return undefined
    buffer = ((buffer << 6) | value) & 0xffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out += String.fromCharCode((buffer >> bits) & 255)
    }
  }
  return out
}
