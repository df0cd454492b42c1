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
 */
export class Registry<TConnection extends Registrable> {
  private readonly byId = new Map<string, TConnection>()
  private readonly byUser = new Map<string, Set<TConnection>>()
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
    return addTo(this.byUser, connection.userId, connection)
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
    return { lastOfUser: removeFrom(this.byUser, connection.userId, connection), emptiedChannels }
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

  ofUser(userId: string): ReadonlySet<TConnection> {
    return this.byUser.get(userId) ?? EMPTY
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
