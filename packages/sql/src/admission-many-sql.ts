/**
 * The server-side half of {@link SqlAdmissionStore.admitMany}: the PostgreSQL and MySQL/MariaDB
 * procedures that run many admissions in one call and one transaction, installed by migration 7.
 * Each admission is the very steps of the single routine (`admission-sql.ts`, spliced in from
 * there), run one request after the other, so a later request sees what an earlier one counted,
 * used and inserted. What differs, and why:
 *
 * - All the cap locks of the call (sorted, each once) are waited for first, before any row is
 *   touched, in the order `sessions.add` and the single routine take them, so two calls never
 *   wait for each other's cap locks in a cycle. The single routine's "commit first, then wait"
 *   is gone: nothing of a failed call is kept, a lock wait that gives up included.
 * - Rows (attempts, tokens, the session bound) are taken in request order, so two concurrent
 *   calls can deadlock on them; the server then rolls one back whole and the store runs it again.
 * - One commit (and on PostgreSQL one durable empty commit) for the whole call.
 *
 * @module
 */
import {
  mysqlCounted,
  mysqlInserted,
  postgresCounted,
  postgresFlush,
  postgresInserted,
  postgresPreamble,
} from './admission-sql.js'
import type { Tables } from './options.js'

/** One value of a request as the MySQL routine reads it: its variable, its JSON key, its kind. */
export interface MysqlField {
  readonly variable: string
  readonly key: string
  readonly kind: 'number' | 'string' | 'json'
}

const f = (variable: string, key: string, kind: MysqlField['kind']): MysqlField => ({
  variable,
  key,
  kind,
})

/**
 * A request's values in the order of v9's fields (`admitManyParams` writes them in this order):
 * the attempts as a JSON array of `[key, limit]` and the channels as one of strings, which the
 * steps of `admit` read (`admission-sql.ts`); the session's values and caps null without one.
 */
export const mysqlFields: readonly MysqlField[] = [
  f('p_window', 'w', 'number'),
  f('p_attempts', 'a', 'json'),
  f('p_jti', 'j', 'string'),
  f('p_token_expires', 'e', 'number'),
  f('p_id', 'i', 'string'),
  f('p_user_id', 'u', 'string'),
  f('p_instance_id', 'n', 'string'),
  f('p_ip', 'p', 'string'),
  f('p_connected_at', 'c', 'number'),
  f('p_last_seen_at', 's', 'number'),
  f('p_channels', 'h', 'json'),
  f('p_per_user', 'pu', 'number'),
  f('p_per_ip', 'pi', 'number'),
  f('p_total', 't', 'number'),
]

/**
 * `CREATE OR REPLACE PROCEDURE <prefix>admit_many(...)` (PostgreSQL 11 and later): the requests
 * come as parallel arrays, one element per request; the attempts and the channels of all of them
 * flattened, with each request's count (`b_attempts`, `b_channel_counts`). It answers three
 * arrays, one element per request: the answer, and for `attempts` the refusing counter's 1-based
 * index and its window's end.
 */
export function postgresAdmitMany(t: Tables): string {
  return `DO $install$ BEGIN IF current_setting('server_version_num')::int >= 110000 THEN
  EXECUTE $body$${postgresProcedure(t)}$body$;
END IF; END $install$`
}

function postgresProcedure(t: Tables): string {
  return `CREATE OR REPLACE PROCEDURE ${t.admitMany}(
    p_now bigint, b_windows bigint[], b_attempts integer[], b_keys text[], b_limits bigint[],
    b_jtis text[], b_token_expires bigint[],
    b_ids text[], b_user_ids text[], b_instance_ids text[], b_ips text[],
    b_connected_ats bigint[], b_last_seen_ats bigint[], b_channel_counts integer[],
    b_channels text[], b_per_users bigint[], b_per_ips bigint[], b_totals bigint[],
    p_locks bigint[], p_lock_timeout integer, p_unflushed text,
    INOUT answers text[], INOUT refused integer[], INOUT windows_end bigint[])
  LANGUAGE plpgsql AS $admit_many$
DECLARE
  -- One request's arguments of the single routine, under its names.
  p_window bigint;
  p_keys text[];
  p_limits bigint[];
  p_jti text;
  p_token_expires bigint;
  p_id text;
  p_user_id text;
  p_instance_id text;
  p_ip text;
  p_connected_at bigint;
  p_last_seen_at bigint;
  p_channels text[];
  p_per_user bigint;
  p_per_ip bigint;
  p_total bigint;
  answer text;
  attempt integer;
  window_ends bigint;
  v_hits bigint;
  v_user bigint;
  v_ip bigint;
  v_count bigint;
  v_lock bigint;
  v_flush boolean := p_unflushed IS DISTINCT FROM 'unflushed';
  -- Where the current request's attempts and channels start in the flattened arrays.
  v_a integer := 0;
  v_c integer := 0;
BEGIN
${postgresPreamble}  -- The cap locks of every request, waited for before any row is locked (see the module).
  FOREACH v_lock IN ARRAY coalesce(p_locks, '{}') LOOP
    PERFORM pg_advisory_xact_lock(v_lock);
  END LOOP;
  answers := '{}';
  refused := '{}';
  windows_end := '{}';
  FOR r IN 1 .. coalesce(cardinality(b_jtis), 0) LOOP
    p_window := b_windows[r];
    p_keys := b_keys[v_a + 1 : v_a + b_attempts[r]];
    p_limits := b_limits[v_a + 1 : v_a + b_attempts[r]];
    v_a := v_a + b_attempts[r];
    p_jti := b_jtis[r];
    p_token_expires := b_token_expires[r];
    p_id := b_ids[r];
    p_user_id := b_user_ids[r];
    p_instance_id := b_instance_ids[r];
    p_ip := b_ips[r];
    p_connected_at := b_connected_ats[r];
    p_last_seen_at := b_last_seen_ats[r];
    p_channels := b_channels[v_c + 1 : v_c + b_channel_counts[r]];
    v_c := v_c + b_channel_counts[r];
    p_per_user := b_per_users[r];
    p_per_ip := b_per_ips[r];
    p_total := b_totals[r];
    answer := NULL;
    attempt := NULL;
  <<admission>> BEGIN
${postgresCounted(t)}${postgresInserted(t)}  END admission;
    answers := array_append(answers, answer);
    refused := array_append(refused, attempt);
    windows_end := array_append(windows_end, window_ends);
  END LOOP;
${postgresFlush}END
$admit_many$`
}

/**
 * The MySQL/MariaDB procedure, dropped and created. The requests come as one text (a procedure
 * takes no arrays); the `GET_LOCK` names of the call as a JSON array of strings, sorted. It
 * answers one row, `answers`: per request `answer:attempt:window_ends`, joined by commas.
 *
 * Since v9 the requests come as fields (`admitManyParams` writes them): `v9`, then each request's
 * {@link mysqlFields} in their order, each field after a NUL byte, an empty field for a null. No
 * field holds a NUL (every key is checked to have none, the two JSON arrays escape it), so the
 * fields need no escaping, and a request is the text up to its 14th NUL after it starts. Cut with
 * SUBSTRING_INDEX in a binary copy, they cost MariaDB 10.11 next to nothing beside v8's 14
 * JSON_EXTRACTs (about 2 µs each): about 0.02 ms less mysqld CPU per admission
 * (`bench-notes/README.md`).
 *
 * Rolling upgrades: the call keeps v8's shape and its routine reads the JSON arrays of older
 * stores, as v8 did (below). A v8 or v7 routine reads no request out of the fields text (`v`
 * cannot start a JSON value): its first statement, `JSON_LENGTH`, fails (when the routine was
 * created in a strict `sql_mode`, the default), or answers NULL, and then the routine only takes
 * and frees the cap locks and answers NULL. Either way the store sends the JSON array instead,
 * for a minute (`admission.ts`).
 *
 * JSON, as stores before v9 send it: both arrays are read in one pass (v8), so a call costs the
 * same per request at any size. v7 asked `JSON_LENGTH` of each array at every turn of its loops
 * and `JSON_EXTRACT`ed element `r`, each a parse from the start of the text. Now:
 * - the lock names (`wsw:` and hex, never a quote) are read quote to quote;
 * - the requests, when the array holds one per line (`[` and the objects joined by `,\n`, as a v8
 *   store lays them out: JSON.stringify writes no raw newline, so `,\n` only separates requests),
 *   are cut between separators. An array laid out otherwise, as a v7 store sends it, is read
 *   element by element, as v7 did.
 * Both are walked in a binary copy, whose positions are bytes.
 */
export function mysqlAdmitMany(t: Tables): string[] {
  const text = 'LONGTEXT CHARACTER SET utf8mb4'
  const bin = 'VARBINARY(512)'
  /** The request's variables, from its JSON object (before v9) or its fields. */
  const read = (value: (field: MysqlField, i: number) => string) =>
    mysqlFields.map((field, i) => `${field.variable} = ${value(field, i)}`).join(',\n      ')
  const fromJson = ({ key, kind }: MysqlField) =>
    kind === 'string'
      ? `JSON_UNQUOTE(JSON_EXTRACT(v_req, '$.${key}'))`
      : `JSON_EXTRACT(v_req, '$.${key}')`
  const fromFields = ({ kind }: MysqlField, i: number) => {
    const cut = `NULLIF(SUBSTRING_INDEX(SUBSTRING_INDEX(v_row, 0x00, ${i + 1}), 0x00, -1), '')`
    return kind === 'json' ? `CONVERT(${cut} USING utf8mb4)` : cut
  }
  /** Each lock name of the call in turn, as `v_lock`, then `body`; `v_at` is its opening quote. */
  const eachLock = (body: string, indent: string) => `${indent}SET v_at = LOCATE('"', v_locks);
${indent}WHILE v_at > 0 DO
${indent}  SET v_end = LOCATE('"', v_locks, v_at + 1);
${indent}  SET v_lock = SUBSTRING(v_locks, v_at + 1, v_end - v_at - 1);
${indent}  SET v_at = LOCATE('"', v_locks, v_end + 1);
${indent}  ${body}
${indent}END WHILE;`
  return [
    `DROP PROCEDURE IF EXISTS ${t.admitMany}`,
    `CREATE PROCEDURE ${t.admitMany}(
    IN p_now BIGINT, IN p_requests ${text}, IN p_locks ${text}, IN p_lock_wait DOUBLE)
  MODIFIES SQL DATA
BEGIN
  DECLARE v_r INT DEFAULT 0;
  DECLARE v_n INT;
  DECLARE v_req ${text};
  DECLARE v_row LONGBLOB;
  DECLARE v_fields BOOLEAN;
  DECLARE v_bytes LONGBLOB;
  DECLARE v_locks LONGBLOB;
  DECLARE v_lines BOOLEAN;
  DECLARE v_at INT;
  DECLARE v_pos INT DEFAULT 2;
  DECLARE v_end INT;
  DECLARE v_separator VARBINARY(2) DEFAULT CONCAT(',', CHAR(10));
  DECLARE v_lock VARBINARY(64);
  DECLARE v_answers ${text} DEFAULT NULL;
  DECLARE p_window BIGINT;
  DECLARE p_attempts ${text};
  DECLARE p_jti ${bin};
  DECLARE p_token_expires BIGINT;
  DECLARE p_id ${bin};
  DECLARE p_user_id ${bin};
  DECLARE p_instance_id ${bin};
  DECLARE p_ip ${bin};
  DECLARE p_connected_at BIGINT;
  DECLARE p_last_seen_at BIGINT;
  DECLARE p_channels ${text};
  DECLARE p_per_user BIGINT;
  DECLARE p_per_ip BIGINT;
  DECLARE p_total BIGINT;
  DECLARE v_i INT DEFAULT 0;
  DECLARE v_key ${bin};
  DECLARE v_limit BIGINT;
  DECLARE v_hits BIGINT;
  DECLARE v_ends BIGINT DEFAULT NULL;
  DECLARE v_count BIGINT;
  DECLARE v_bound BIGINT;
  DECLARE v_user BIGINT DEFAULT NULL;
  DECLARE v_ip BIGINT DEFAULT NULL;
  DECLARE v_answer VARCHAR(16);
  DECLARE v_attempt INT DEFAULT NULL;
  DECLARE v_got INT;
  -- A failure rolls back all of the call (a deadlock's victim lost nothing: the caller runs it
  -- again) and frees its cap locks (one not held is left alone).
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    ROLLBACK;
${eachLock('DO RELEASE_LOCK(v_lock);', '    ')}
    RESIGNAL;
  END;
  SET v_locks = p_locks, v_bytes = p_requests;
  SET v_fields = (LEFT(v_bytes, 3) = CONCAT('v9', 0x00));
  IF v_fields THEN
    -- The fields start after the tag; each request has ${mysqlFields.length} NULs.
    SET v_pos = 4,
      v_n = (LENGTH(v_bytes) - LENGTH(REPLACE(v_bytes, 0x00, ''))) DIV ${mysqlFields.length};
  ELSE
    SET v_n = JSON_LENGTH(p_requests);
    SET v_lines = (v_n = 1 OR LOCATE(v_separator, v_bytes) > 0);
  END IF;
  SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
  START TRANSACTION;
  -- The cap locks of every request, waited for before any row is locked (see the module).
${eachLock(
  `SET v_got = GET_LOCK(v_lock, p_lock_wait);
    IF v_got IS NULL OR v_got <> 1 THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ws-warden: lock wait exceeded';
    END IF;`,
  '  ',
)}
  WHILE v_r < v_n DO
    IF v_fields THEN
      SET v_row = SUBSTRING_INDEX(SUBSTRING(v_bytes, v_pos), 0x00, ${mysqlFields.length});
      SET v_pos = v_pos + LENGTH(v_row) + 1;
      SET ${read(fromFields)};
    ELSE
      IF v_lines THEN
        -- From after the separator (or the opening bracket) to the next one, or to the closing
        -- one.
        SET v_end = LOCATE(v_separator, v_bytes, v_pos);
        IF v_end = 0 THEN
          SET v_end = LENGTH(v_bytes);
        END IF;
        SET v_req = CONVERT(SUBSTRING(v_bytes, v_pos, v_end - v_pos) USING utf8mb4);
        SET v_pos = v_end + 2;
      ELSE
        SET v_req = JSON_EXTRACT(p_requests, CONCAT('$[', v_r, ']'));
      END IF;
      SET ${read(fromJson)};
    END IF;
    SET v_i = 0, v_ends = NULL, v_attempt = NULL, v_answer = NULL;
  admission: BEGIN
${mysqlCounted(t)}${mysqlInserted(t)}  END admission;
    SET v_answers = CONCAT_WS(',', v_answers,
      CONCAT(v_answer, ':', IFNULL(v_attempt, ''), ':', IFNULL(v_ends, '')));
    SET v_r = v_r + 1;
  END WHILE;
  COMMIT;
${eachLock('DO RELEASE_LOCK(v_lock);', '  ')}
  SELECT v_answers AS answers;
END`,
  ]
}
