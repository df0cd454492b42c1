/**
 * The client's frames on the wire: the checks on what the application sends, the encoding of the
 * client's own reserved frames (`$ping`, `$refresh`), the decoding of what the server sends, and
 * the sign of an `error` frame that answers one of the client's own frames.
 *
 * @module
 */
import type { Envelope } from '@ws-warden/protocol'
import { FrameType, isReservedType } from '@ws-warden/protocol'

/** The `$ping` the heartbeat sends after silence. */
export const PING_FRAME = JSON.stringify({ type: FrameType.Ping })

/** The `$refresh` frame carrying a fresh token. */
export function refreshFrame(token: string): string {
  return JSON.stringify({ type: FrameType.Refresh, token })
}

/** Throws a `TypeError` for a message without a string `type` or with a reserved (`$`) one. */
export function checkMessage(message: Envelope): void {
  const type = (message as Partial<Envelope> | null)?.type
  if (typeof type !== 'string' || type === '') {
    throw new TypeError('ws-warden client: a message needs a string "type"')
  }
  if (isReservedType(type)) {
    throw new TypeError(`ws-warden client: message type ${type} is reserved`)
  }
}

/** An inbound frame: a JSON object with a non-empty string `type`, or undefined for anything else. */
export function parseFrame(data: unknown): Envelope | undefined {
  if (typeof data !== 'string') return undefined
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const type = (value as { type?: unknown }).type
  return typeof type === 'string' && type !== '' ? (value as Envelope) : undefined
}

/**
 * True for an `error` frame answering one of the client's own (reserved) frames: a refused
 * refresh, or a server that does not know `$ping` (still proof of life).
 */
export function answersOwnFrame(frame: Envelope): boolean {
  return frame.type === 'error' && typeof frame.for === 'string' && isReservedType(frame.for)
}
