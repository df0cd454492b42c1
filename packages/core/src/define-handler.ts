/**
 * `defineHandler`: a handler with a schema, its `message` typed by what the schema produces.
 *
 * @module
 */
import type { InferOutput, StandardSchemaV1 } from './schema.js'
import { isStandardSchema } from './schema.js'
import type { Handler, HandlerContext } from './types.js'

/**
 * Declares a handler with a schema, so that `message` is typed as the schema's output:
 *
 * ```ts
 * handlers: {
 *   say: defineHandler({
 *     schema: z.object({ type: z.literal('say'), channel: z.string(), text: z.string().max(500) }),
 *     handle: ({ message, warden }) => warden.toChannel(message.channel, { type: 'said', text: message.text }),
 *   }),
 * }
 * ```
 */
export function defineHandler<
  TData = Record<string, unknown>,
  S extends StandardSchemaV1 = StandardSchemaV1,
>(handler: {
  readonly permissions?: readonly string[]
  readonly schema: S
  handle(context: HandlerContext<TData, InferOutput<S>>): void | Promise<void>
}): Handler<TData> {
  if (!isStandardSchema(handler?.schema)) {
    throw new TypeError('ws-warden: defineHandler needs a Standard Schema (v1) as schema')
  }
  // The same object: only its type is widened to what `handlers` holds.
  return handler as unknown as Handler<TData>
}
