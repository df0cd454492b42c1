/**
 * The registry of this instance's live connections, indexed by id, user and channel.
 *
 * @module
 */
/** Anything the registry can index: an id, a user and a set of channels. */
export interface Registrable {
  readonly id: string
  readonly userId: string
  readonly channels: ReadonlySet<string>
}

const EMPTY: ReadonlySet<never> = new Set()

/**
 * This instance's live connections, by id, by user and by channel. Every operation is O(1)
 * (removal is O(channels of the connection)). The cluster-wide view lives in the session store.
 *
 * Most users have one connection: the user index holds that connection itself, and a set only
 * from the second one on (a set per user would cost about 150 bytes per connection).
 */
export class Registry<TConnection extends Registrable> {
  private readonly byId = new Map<string, TConnection>()
  private readonly byUser = new Map<string, TConnection | Set<TConnection>>()
  private readonly byChannel = new Map<string, Set<TConnection>>()

  get size(): number {
    return this.byId.size
  }

  get userCount(): number {
    return this.byUser.size
  }

  /** Adds a connection; returns true if it is its user's first on this instance. */
  add(connection: TConnection): boolean {
    this.byId.set(connection.id, connection)
    const user = connection.userId
    const current = this.byUser.get(user)
    if (current === undefined) {
      this.byUser.set(user, connection)
      return true
    }
    if (current instanceof Set) current.add(connection)
    else this.byUser.set(user, new Set([current, connection]))
    return false
  }

  /**
   * Removes a connection from every index. Returns the user (if this was the user's last
   * connection here) and the channels that lost their last local member.
   */
  remove(connection: TConnection): { lastOfUser: boolean; emptiedChannels: string[] } {
    if (this.byId.get(connection.id) !== connection)
      return { lastOfUser: false, emptiedChannels: [] }
    this.byId.delete(connection.id)
    const emptiedChannels: string[] = []
    for (const channel of connection.channels) {
      if (removeFrom(this.byChannel, channel, connection)) emptiedChannels.push(channel)
    }
    return { lastOfUser: this.removeUser(connection), emptiedChannels }
  }

  /** Drops a connection from the user index; true if it was the user's last. */
  private removeUser(connection: TConnection): boolean {
    const user = connection.userId
    const current = this.byUser.get(user)
    if (current === connection) {
      this.byUser.delete(user)
      return true
    }
    const members = current as Set<TConnection>
    members.delete(connection)
    // Back to one connection: the index holds it alone again.
    if (members.size === 1) this.byUser.set(user, members.values().next().value as TConnection)
    return false
  }

  /** Indexes a connection under a channel; true if it is the channel's first local member. */
  join(connection: TConnection, channel: string): boolean {
    return addTo(this.byChannel, channel, connection)
  }

  /** Removes a connection from a channel's index; true if the channel has no local member left. */
  leave(connection: TConnection, channel: string): boolean {
    return removeFrom(this.byChannel, channel, connection)
  }

  get(id: string): TConnection | undefined {
    return this.byId.get(id)
  }

  all(): IterableIterator<TConnection> {
    return this.byId.values()
  }

  /** A user's connections: a set made for the call when the user has just one. */
  ofUser(userId: string): ReadonlySet<TConnection> {
    const current = this.byUser.get(userId)
    if (current === undefined) return EMPTY
    return current instanceof Set ? current : new Set([current])
  }

  inChannel(channel: string): ReadonlySet<TConnection> {
    return this.byChannel.get(channel) ?? EMPTY
  }

  /** Local member counts per channel. */
  channelCounts(): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const [channel, members] of this.byChannel) counts[channel] = members.size
    return counts
  }
}

function addTo<TValue>(index: Map<string, Set<TValue>>, key: string, value: TValue): boolean {
  const set = index.get(key)
  if (set) {
    set.add(value)
    return false
  }
  index.set(key, new Set([value]))
  return true
}

function removeFrom<TValue>(index: Map<string, Set<TValue>>, key: string, value: TValue): boolean {
  const set = index.get(key)
  if (!set || !set.delete(value)) return false
  if (set.size > 0) return false
  index.delete(key)
  return true
}
