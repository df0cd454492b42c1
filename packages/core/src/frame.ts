/**
 * A text message framed once (RFC 6455, server to client: FIN, text opcode, no mask, no RSV bit)
 * and written as it is to every recipient: a fan-out to 5,000 connections serializes and frames
 * once, not 5,000 times.
 *
 * @module
 */

/** One text message's frame, built once and written to every recipient as it is. */
export class TextFrame {
  /** The whole frame: header, then the UTF-8 payload. */
  readonly wire: Buffer
  /** Payload bytes (what metrics count as sent). */
  readonly size: number

  private constructor(wire: Buffer, size: number) {
    this.wire = wire
    this.size = size
  }

  /** Frames `text` in one buffer. */
  static of(text: string): TextFrame {
    const size = Buffer.byteLength(text)
    const header = size < 126 ? 2 : size < 65_536 ? 4 : 10
    const wire = Buffer.allocUnsafe(header + size)
    wire[0] = 0x81
    if (header === 2) {
      wire[1] = size
    } else if (header === 4) {
      wire[1] = 126
      wire.writeUInt16BE(size, 2)
    } else {
      wire[1] = 127
      // Payloads stay far below 2^53 bytes: the high 16 bits of the 64-bit length are zero.
      wire.writeUInt16BE(0, 2)
      wire.writeUIntBE(size, 4, 6)
    }
    wire.write(text, header, 'utf8')
    return new TextFrame(wire, size)
  }

  /** The payload alone, for a socket that must frame it itself (a view, no copy). */
  get payload(): Buffer {
    return this.wire.subarray(this.wire.length - this.size)
  }
}
