/**
 * The SQL schema: every migration for PostgreSQL and MySQL/MariaDB, and `migrate`, which applies
 * the ones a database lacks, one version at a time.
 *
 * @module
 */
import { mysqlAdmitMany, postgresAdmitMany } from './admission-many-sql.js'
import { mysqlAdmit, postgresAdmit } from './admission-sql.js'
import { resolve, type Resolved, type SqlConnectionOptions } from './options.js'

/** One schema version: its statements for each dialect, each idempotent on its own. */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly postgres: (t: Resolved['tables'], index: (name: string) => string) => string[]
  readonly mysql: (t: Resolved['tables']) => string[]
}

// PostgreSQL: text keys compared byte for byte (COLLATE "C"), times as epoch-ms bigints.
// MySQL/MariaDB: VARBINARY keys, because every text collation either folds case and accents or
// pads trailing spaces, and either would let two distinct token ids or channels collide.
const text = 'text COLLATE "C" NOT NULL'
const bin = 'VARBINARY(512) NOT NULL'

/** The migrations shipped with this version of the package, oldest first. */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'sessions, tokens, rate limits, locks, counters',
    postgres: (t, index) => [
      `CREATE TABLE IF NOT EXISTS ${t.sessions} (id ${text} PRIMARY KEY, user_id ${text},
        instance_id ${text}, ip ${text}, connected_at bigint NOT NULL, last_seen_at bigint NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${index('sessions_user_id_idx')} ON ${t.sessions} (user_id)`,
      `CREATE INDEX IF NOT EXISTS ${index('sessions_ip_idx')} ON ${t.sessions} (ip)`,
      `CREATE INDEX IF NOT EXISTS ${index('sessions_last_seen_at_idx')} ON ${t.sessions} (last_seen_at)`,
      `CREATE TABLE IF NOT EXISTS ${t.channels} (
        session_id ${text} REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
        channel ${text}, PRIMARY KEY (session_id, channel))`,
      `CREATE INDEX IF NOT EXISTS ${index('session_channels_channel_idx')}
        ON ${t.channels} (channel, session_id)`,
      `CREATE TABLE IF NOT EXISTS ${t.tokens} (jti ${text} PRIMARY KEY, expires_at bigint NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${index('tokens_expires_at_idx')} ON ${t.tokens} (expires_at)`,
      `CREATE TABLE IF NOT EXISTS ${t.rateLimits} (name ${text} PRIMARY KEY,
        hits bigint NOT NULL, expires_at bigint NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${index('rate_limits_expires_at_idx')} ON ${t.rateLimits} (expires_at)`,
      `CREATE TABLE IF NOT EXISTS ${t.locks} (name ${text} PRIMARY KEY, token ${text},
        expires_at bigint NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${t.counters} (name ${text} PRIMARY KEY, value bigint NOT NULL)`,
      `INSERT INTO ${t.counters} (name, value) VALUES ('sessions', 0) ON CONFLICT DO NOTHING`,
    ],
    mysql: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.sessions} (id ${bin}, user_id ${bin}, instance_id ${bin},
        ip ${bin}, connected_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL, PRIMARY KEY (id),
        KEY user_id_idx (user_id), KEY ip_idx (ip), KEY last_seen_at_idx (last_seen_at)
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS ${t.channels} (session_id ${bin}, channel ${bin},
        PRIMARY KEY (session_id, channel), KEY channel_idx (channel, session_id),
        FOREIGN KEY (session_id) REFERENCES ${t.sessions} (id) ON DELETE CASCADE
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS ${t.tokens} (jti ${bin}, expires_at BIGINT NOT NULL,
        PRIMARY KEY (jti), KEY expires_at_idx (expires_at)) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS ${t.rateLimits} (name ${bin}, hits BIGINT NOT NULL,
        expires_at BIGINT NOT NULL, PRIMARY KEY (name), KEY expires_at_idx (expires_at)
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS ${t.locks} (name ${bin}, token ${bin},
        expires_at BIGINT NOT NULL, PRIMARY KEY (name)) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS ${t.counters} (name ${bin}, value BIGINT NOT NULL,
        PRIMARY KEY (name)) ENGINE=InnoDB`,
      `INSERT IGNORE INTO ${t.counters} (name, value) VALUES ('sessions', 0)`,
    ],
  },
  {
    version: 2,
    name: 'history streams and entries, resumable sessions',
    // `streams`: each stream's seqs are base_seq + 1 … last_seq; expires_at is when its newest
    // entry expires. The `history` row of `counters` is the floor new streams start above.
    postgres: (t, index) => [
      `CREATE TABLE IF NOT EXISTS ${t.streams} (stream ${text} PRIMARY KEY,
        base_seq bigint NOT NULL, last_seq bigint NOT NULL, expires_at bigint NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${index('streams_expires_at_idx')} ON ${t.streams} (expires_at)`,
      `CREATE TABLE IF NOT EXISTS ${t.history} (stream ${text}, seq bigint NOT NULL,
        frame text NOT NULL, except_ids text, expires_at bigint NOT NULL,
        PRIMARY KEY (stream, seq))`,
      `CREATE INDEX IF NOT EXISTS ${index('history_expires_at_idx')} ON ${t.history} (expires_at)`,
      `CREATE TABLE IF NOT EXISTS ${t.resumes} (id ${text} PRIMARY KEY, user_id ${text},
        credential_hash ${text}, state text NOT NULL, expires_at bigint NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${index('resumes_expires_at_idx')} ON ${t.resumes} (expires_at)`,
      `INSERT INTO ${t.counters} (name, value) VALUES ('history', 0) ON CONFLICT DO NOTHING`,
    ],
    // Frames and states as MEDIUMBLOB (up to 16 MiB): bytes, whatever the server's charset.
    mysql: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.streams} (stream ${bin}, base_seq BIGINT NOT NULL,
        last_seq BIGINT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (stream),
        KEY expires_at_idx (expires_at)) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS ${t.history} (stream ${bin}, seq BIGINT NOT NULL,
        frame MEDIUMBLOB NOT NULL, except_ids MEDIUMBLOB NULL, expires_at BIGINT NOT NULL,
        PRIMARY KEY (stream, seq), KEY expires_at_idx (expires_at)) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS ${t.resumes} (id ${bin}, user_id ${bin}, credential_hash ${bin},
        state MEDIUMBLOB NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (id),
        KEY expires_at_idx (expires_at)) ENGINE=InnoDB`,
      `INSERT IGNORE INTO ${t.counters} (name, value) VALUES ('history', 0)`,
    ],
  },
  {
    version: 3,
    name: 'admission in one round trip',
    // A routine, no table: installing it again replaces it (see admission-sql.ts). Every version
    // that changes it installs the current body, under the same name and arguments, so that a
    // store of any version calls the routine of any version since this one.
    postgres: (t) => [postgresAdmit(t)],
    mysql: (t) => mysqlAdmit(t),
  },
  {
    version: 4,
    name: 'broker payloads too large for one NOTIFY',
    // Written by PostgresBroker.publish, read by every listening instance, deleted by its sweep
    // once older than the retention (created_at: the publisher's clock, epoch ms).
    postgres: (t, index) => [
      `CREATE TABLE IF NOT EXISTS ${t.brokerPayloads} (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        created_at bigint NOT NULL, payload text NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${index('broker_payloads_created_at_idx')}
        ON ${t.brokerPayloads} (created_at)`,
    ],
    // MySQL/MariaDB have no LISTEN/NOTIFY, so no broker: the version is recorded, nothing made.
    mysql: () => [],
  },
  {
    version: 5,
    name: 'admission: attempts before the flush, counts only near a cap',
    // The admission routine again, its newer body: on PostgreSQL the attempts no longer hold
    // their rows across the token's flush; a per-user or per-IP count only when the session bound
    // reaches that cap; on MySQL no read after each hit.
    postgres: (t) => [postgresAdmit(t)],
    mysql: (t) => mysqlAdmit(t),
  },
  {
    version: 6,
    name: 'admission: one commit and one flush, cap locks tried first',
    // The admission routine again: the whole admission in one transaction committed without
    // waiting for the flush, then one durable flush (PostgreSQL); the cap locks tried without
    // waiting, a second transaction only when one is taken; fewer statements.
    postgres: (t) => [postgresAdmit(t)],
    mysql: (t) => mysqlAdmit(t),
  },
  {
    version: 7,
    name: 'admission: many in one call',
    // A second routine beside the first: the steps of one admission, run for each of the call's
    // requests in order, in one transaction (see admission-many-sql.ts). On MySQL the single
    // routine again, its cap locks now tried first as on PostgreSQL (it must not wait for one
    // holding rows an admit_many call may be waiting for).
    postgres: (t) => [postgresAdmitMany(t)],
    mysql: (t) => [...mysqlAdmit(t), ...mysqlAdmitMany(t)],
  },
  {
    version: 8,
    name: 'admission: many in one call, read in one pass',
    // MySQL's routines again: admit_many reads its requests and lock names in one pass (v7
    // parsed its JSON from the start for each) and still reads the arrays of a v7 store; both
    // read the session bound on its own, each count only when needed. PostgreSQL: nothing
    // changes (typed arrays; the bound read on its own measured within the noise there).
    postgres: () => [],
    mysql: (t) => [...mysqlAdmit(t), ...mysqlAdmitMany(t)],
  },
  {
    version: 9,
    name: 'admission: many in one call, requests as fields',
    // MySQL's admit_many again: it reads the requests as NUL-separated fields (v8 JSON_EXTRACTed
    // 14 values out of each), and still reads the JSON arrays of v7 and v8 stores. A v9 store
    // sends the JSON array to a routine before v9, which refuses fields or answers them NULL
    // (see admission-many-sql.ts). PostgreSQL: nothing changes.
    postgres: () => [],
    mysql: (t) => mysqlAdmitMany(t),
  },
]

/** What {@link migrate} did. */
export interface MigrationReport {
  /** The versions applied by this call, oldest first; empty when already up to date. */
  readonly applied: number[]
  /** The schema version after the call. */
  readonly version: number
}

/**
 * Creates or upgrades the tables for `prefix` (and, on PostgreSQL, `schema`, created if
 * missing). Idempotent; safe to run from several instances at once (they take turns under a
 * lock); each applied version is recorded in the `<prefix>migrations` table. Nothing in this
 * package migrates on its own: call this from a deploy step, a script or your startup code.
 */
export function migrate(options: SqlConnectionOptions): Promise<MigrationReport> {
  return applyMigrations(options, migrations)
}

/**
 * {@link migrate} with the list of migrations to apply (not exported from the package: the tests
 * use it to build the schema of an earlier version, then upgrade it).
 */
export async function applyMigrations(
  options: SqlConnectionOptions,
  list: readonly Migration[],
): Promise<MigrationReport> {
  const resolved = resolve('migrate', options)
  const { db, tables } = resolved
  try {
    return await db.transaction(['migrate'], async (run) => {
      if (resolved.schema !== undefined) await run(`CREATE SCHEMA IF NOT EXISTS ${resolved.schema}`)
      const bigint = db.dialect.name === 'postgres' ? 'bigint' : 'BIGINT'
      await run(
        `CREATE TABLE IF NOT EXISTS ${tables.migrations} (version integer PRIMARY KEY,
          name varchar(200) NOT NULL, applied_at ${bigint} NOT NULL)`,
      )
      const { rows } = await run(`SELECT version FROM ${tables.migrations}`)
      const done = new Set(rows.map((row) => Number(row.version)))
      const applied: number[] = []
      for (const migration of list) {
        if (done.has(migration.version)) continue
        const statements =
          db.dialect.name === 'postgres'
            ? migration.postgres(tables, resolved.bare)
            : migration.mysql(tables)
        for (const statement of statements) await run(statement)
        await run(`INSERT INTO ${tables.migrations} (version, name, applied_at) VALUES (?, ?, ?)`, [
          migration.version,
          migration.name,
          Date.now(),
        ])
        applied.push(migration.version)
      }
      return { applied, version: Math.max(0, ...done, ...applied) }
    })
  } finally {
    if (resolved.owned) await db.end()
  }
}
