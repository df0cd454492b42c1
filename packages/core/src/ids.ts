/**
 * Connection and session ids: random UUIDs kept as flat strings.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'

/**
 * A random UUID (v4) as one flat string. `randomUUID()` builds its result by concatenation, which
 * V8 keeps as a tree of string pieces (about 480 bytes for 36 characters) for as long as the
 * string lives; an id held by every index for a connection's whole life is worth copying once
 * into a flat string (about 56 bytes).
 */
export function newId(): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1')
}
