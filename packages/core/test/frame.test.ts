import t from 'tap'
import type { EventEmitter } from 'node:events'
import * as ws from 'ws'
import { TextFrame } from '../src/frame.js'

/** ws's own framing (exported by ws, not typed by @types/ws): the reference to compare with. */
interface WsFraming {
  readonly Receiver: new (options: { isServer: boolean; maxPayload: number }) => EventEmitter & {
    write(chunk: Buffer): boolean
  }
  readonly Sender: {
    frame(
      data: Buffer,
      options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean },
    ): Buffer[]
  }
}
const { Receiver, Sender } = ws as unknown as WsFraming

/** What ws itself reads from `wire` (as a client reads the server's frames): the messages. */
function decode(wire: Buffer): { text: string; binary: boolean }[] {
  const messages: { text: string; binary: boolean }[] = []
  const receiver = new Receiver({ isServer: false, maxPayload: 0 })
  receiver.on('message', (data: Buffer, binary: boolean) =>
    messages.push({ text: data.toString('utf8'), binary }),
  )
  receiver.on('error', (error: Error) => {
    throw error
  })
  receiver.write(wire)
  return messages
}

// Each length encoding on both sides of its boundary, and characters of 1 to 4 UTF-8 bytes.
const texts = [
  '',
  '{"type":"m"}',
  'x'.repeat(125),
  'x'.repeat(126),
  'é'.repeat(63),
  'x'.repeat(65_535),
  'x'.repeat(65_536),
  '€😀'.repeat(20_000),
]

t.test('a frame is what ws would send, and ws reads back the text', async (t) => {
  for (const text of texts) {
    const frame = TextFrame.of(text)
    const bytes = Buffer.from(text, 'utf8')
    const label = `${text.length} characters, ${bytes.length} bytes`
    t.equal(frame.size, bytes.length, `${label}: size counts bytes`)
    t.ok(frame.payload.equals(bytes), `${label}: payload`)
    const reference = Sender.frame(bytes, {
      fin: true,
      rsv1: false,
      opcode: 1,
      mask: false,
      readOnly: false,
    })
    t.ok(frame.wire.equals(Buffer.concat(reference)), `${label}: the bytes ws frames`)
    t.same(decode(frame.wire), [{ text, binary: false }], `${label}: read back`)
  }
})

t.test('frames sent back to back are read as separate messages', async (t) => {
  const wire = Buffer.concat(['a', 'b'.repeat(200), 'c'].map((text) => TextFrame.of(text).wire))
  t.same(
    decode(wire).map(({ text }) => text.length),
    [1, 200, 1],
  )
})
