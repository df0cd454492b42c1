/**
 * Stream names, defined once: the stream of a fan-out frame (`all`, `channel:<name>`,
 * `user:<id>`) is also its broker topic and its history key. Build them with {@link streamOf},
 * read them back with {@link parseStream}; nothing else spells the prefixes.
 *
 * @module
 */

/** The stream of everything sent with `broadcast`. */
export const ALL_STREAM = 'all'

/**
 * The broker topic of cluster control messages (`disconnectUser`). A topic, never a stream: it
 * has no history and no frame names it.
 */
export const CONTROL_TOPIC = 'control'

const CHANNEL_PREFIX = 'channel:'
const USER_PREFIX = 'user:'

/** The stream of a channel's messages. */
export function channelStream(channel: string): string {
  return `${CHANNEL_PREFIX}${channel}`
}

/** The stream of messages sent to every connection of one user. */
export function userStream(userId: string): string {
  return `${USER_PREFIX}${userId}`
}

/**
 * The stream builders, by kind.
 *
 * @example
 * ```ts
 * streamOf.channel('lobby') // 'channel:lobby'
 * streamOf.user('u1') // 'user:u1'
 * streamOf.all // 'all'
 * ```
 */
export const streamOf = {
  all: ALL_STREAM,
  channel: channelStream,
  user: userStream,
} as const

/** What a stream name addresses. */
export type StreamTarget =
  | { readonly kind: 'all' }
  | { readonly kind: 'channel'; readonly channel: string }
  | { readonly kind: 'user'; readonly userId: string }

/**
 * What a stream (or broker topic) addresses, or undefined for a name that is no stream (the
 * control topic, anything else).
 *
 * @example
 * ```ts
 * parseStream('channel:lobby') // { kind: 'channel', channel: 'lobby' }
 * parseStream('user:u:1') // { kind: 'user', userId: 'u:1' }
 * ```
 */
export function parseStream(stream: string): StreamTarget | undefined {
  if (stream === ALL_STREAM) return { kind: 'all' }
  if (stream.startsWith(CHANNEL_PREFIX)) {
    return { kind: 'channel', channel: stream.slice(CHANNEL_PREFIX.length) }
  }
  if (stream.startsWith(USER_PREFIX))
    return { kind: 'user', userId: stream.slice(USER_PREFIX.length) }
  return undefined
}
