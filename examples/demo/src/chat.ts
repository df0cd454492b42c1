/**
 * The chat's message handlers and channel rules (DEMO-CONTRACT.md, "WebSocket"). The core does
 * the rest: JSON parsing (`bad_json`), the handler allow-list (`unknown_type`), handler
 * permissions and the message rate limit (`rate_limited`).
 *
 * @module
 */
import type { Connection, Handler, WardenOptions } from '@ws-warden/core'
import { ErrorCode, MessageError } from '@ws-warden/core'

/** The permission of moderators: the `staff` channel and announcements. */
export const MODERATE = 'chat.moderate'
/** A channel only moderators may join. */
export const STAFF_CHANNEL = 'staff'
/** The longest text a `say` or `announce` may carry, in characters. */
export const MAX_TEXT_LENGTH = 2000

const CHANNEL_NAME = /^[a-z0-9-]{1,32}$/

function channelOf(message: Readonly<Record<string, unknown>>): string {
  const channel = message.channel
  if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) {
    throw new MessageError('bad_channel', 'channel names match ^[a-z0-9-]{1,32}$')
  }
  return channel
}

function textOf(message: Readonly<Record<string, unknown>>): string {
  const text = message.text
  if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_TEXT_LENGTH) {
    throw new MessageError(ErrorCode.BadMessage, `text must be 1 to ${MAX_TEXT_LENGTH} characters`)
  }
  return text
}

function member(connection: Connection, channel: string): void {
  if (!connection.channels.has(channel)) {
    throw new MessageError('not_joined', `join ${channel} first`)
  }
}

export const handlers: Readonly<Record<string, Handler>> = {
  async join({ connection, message, warden, reply }) {
    const channel = channelOf(message)
    await warden.join(connection, channel)
    reply({ type: 'joined', channel })
  },
  async leave({ connection, message, warden, reply }) {
    const channel = channelOf(message)
    member(connection, channel)
    await warden.leave(connection, channel)
    reply({ type: 'left', channel })
  },
  async say({ connection, message, warden }) {
    const channel = channelOf(message)
    const text = textOf(message)
    member(connection, channel)
    await warden.toChannel(channel, { type: 'message', channel, from: connection.userId, text })
  },
  announce: {
    permissions: [MODERATE],
    async handle({ connection, message, warden }) {
      const text = textOf(message)
      await warden.broadcast({ type: 'announcement', from: connection.userId, text })
    },
  },
}

/** Who may join which channel: `staff` needs {@link MODERATE}, every other channel is open. */
export const authorizeChannel: NonNullable<WardenOptions['authorizeChannel']> = (
  connection,
  channel,
) => channel !== STAFF_CHANNEL || connection.principal.permissions.includes(MODERATE)

/** The permissions a user gets at login: `admin` moderates, everyone else chats. */
export function permissionsOf(user: string): string[] {
  return user === 'admin' ? [MODERATE] : []
}
