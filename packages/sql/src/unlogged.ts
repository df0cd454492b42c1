/**
 * An opt-in for PostgreSQL: the session tables as `UNLOGGED` (or back to logged), which takes
 * their writes out of the WAL.
 *
 * @module
 */
import { resolve, type SqlConnectionOptions } from './options.js'

/**
 * PostgreSQL only: makes `<prefix>sessions` and `<prefix>session_channels` `UNLOGGED` (`true`)
 * or logged again (`false`). Not a migration, and not the default: call it from a deploy step.
 *
 * Unlogged, a session write (an add, an admission's insert, a touch, a sweep) writes no WAL,
 * which makes an admission cheaper (on the package's test machine about a third less WAL and a
 * quarter less server CPU per admission). What it costs: after a crash of the database server
 * (not a clean shutdown) PostgreSQL empties both tables, so ALL session records are lost, not
 * only the last moments' adds as with a logged table. Until those connections end, the caps do
 * not count them (each user, IP and the total can be passed by that many), and `get`, `list*`,
 * `count` and `stats` do not see them; touches do not bring them back. The same on a standby
 * promoted after a failover (unlogged tables are not replicated), and a standby cannot read
 * them. Token ids and attempt windows stay logged. Each switch rewrites the two tables under an
 * exclusive lock: session writes on every instance wait for it.
 */
export async function setSessionTablesUnlogged(
  options: SqlConnectionOptions,
  unlogged: boolean,
): Promise<void> {
  if (typeof unlogged !== 'boolean') {
    throw new TypeError('ws-warden: setSessionTablesUnlogged needs unlogged as a boolean')
  }
  const resolved = resolve('setSessionTablesUnlogged', options)
  const { db, tables } = resolved
  try {
    if (db.dialect.name !== 'postgres') {
      throw new TypeError('ws-warden: setSessionTablesUnlogged is for PostgreSQL only')
    }
    // A logged table cannot reference an unlogged one: the channels change first when going
    // unlogged, last when going back.
    const order = unlogged ? [tables.channels, tables.sessions] : [tables.sessions, tables.channels]
    const how = unlogged ? 'UNLOGGED' : 'LOGGED'
    await db.transaction([], async (run) => {
      for (const table of order) await run(`ALTER TABLE ${table} SET ${how}`)
    })
  } finally {
    if (resolved.owned) await db.end()
  }
}
