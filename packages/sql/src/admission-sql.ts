/**
 * The server-side half of {@link SqlAdmissionStore}: the PostgreSQL and the MySQL/MariaDB
 * procedures that run one admission (attempts, single-use token, capped session insert) in one
 * call, installed by a migration. Each step is the statement its own store runs, in the
 * order {@link ComposedAdmission} calls them; comments below name where they differ and why.
 *
 * Both answer one row: `answer` (`ok`, `attempts`, `replayed`, `user`, `ip` or `total`), and for
 * `attempts` the 1-based index of the counter that refused (`attempt`) and the end of its window
 * (`window_ends`).
 *
 * @module
 */
import type { Tables } from './options.js'

/**
 * `CREATE OR REPLACE PROCEDURE <prefix>admit(...)`: idempotent, so installing it again (or a newer
 * body) is one statement. Called with one `CALL`, it answers its `INOUT` parameters as one row.
 *
 * One transaction holds the whole admission and commits without waiting for the flush, so
 * that no row many admissions share (the attempts' rows of one IP, the session bound's) is
 * locked across a disk flush; a durable commit of a bare transaction id follows, whose flush
 * (WAL is flushed in order) makes the admission durable before the call answers, as durable as
 * the calls it stands for (a lost consume would let a token be used again, a lost hit let a
 * client past its limit). The session record is soft state, as in `sessions.add`, but it rides
 * along: one commit and one flush per admission. A crash before that flush loses the whole call,
 * which never answered.
 *
 * The cap locks (advisory, per user and per IP) are tried without waiting. When one is taken,
 * the attempts and the token commit durably first and the wait, which gives up after half of a
 * statement's time, and the insert run in a transaction of their own: what a failed wait leaves
 * is what the composed calls leave (the attempts counted, the token used, no session). The
 * advisory lock ids and the lock timeout come from the caller, as `Dialect.begin` computes them,
 * so that an admission and a `sessions.add` of the same user or IP take the very same locks.
 *
 * The per-user and per-IP counts are skipped when the session bound (never below the number of
 * records, see `sessions.add`) is below the cap: no user or IP can be at it then.
 */
export function postgresAdmit(t: Tables): string {
  // Procedures (and COMMIT in them) came with PostgreSQL 11: an older server skips it, and the
  // store keeps the separate calls there.
  return `DO $install$ BEGIN IF current_setting('server_version_num')::int >= 110000 THEN
  EXECUTE $body$${procedure(t)}$body$;
END IF; END $install$`
}

function procedure(t: Tables): string {
  return `CREATE OR REPLACE PROCEDURE ${t.admit}(
    p_now bigint, p_window bigint, p_keys text[], p_limits bigint[],
    p_jti text, p_token_expires bigint,
    p_id text, p_user_id text, p_instance_id text, p_ip text,
    p_connected_at bigint, p_last_seen_at bigint, p_channels text[],
    p_per_user bigint, p_per_ip bigint, p_total bigint, p_locks bigint[], p_lock_timeout integer,
    INOUT answer text, INOUT attempt integer, INOUT window_ends bigint)
  LANGUAGE plpgsql AS $admit$
DECLARE
  v_hits bigint;
  v_user bigint;
  v_ip bigint;
  v_count bigint;
  v_lock bigint;
  v_locked boolean := true;
  -- Whether the attempts and the token committed before a cap lock wait (then nothing is left
  -- to flush: that commit waited for it).
  v_committed boolean := false;
  -- SqlAdmissionStore's admissionSynchronousCommit 'off' comes in as answer's input.
  v_flush boolean := answer IS DISTINCT FROM 'unflushed';
BEGIN
${postgresPreamble}  <<admission>> BEGIN
${postgresCounted(t)}    -- The capped insert, as sessions.add runs it, under the user's and the IP's locks (the
    -- caller's order, ascending), tried without waiting. If one is taken, what was counted and
    -- used commits first (durably, unless admissionSynchronousCommit is 'off'), as the composed
    -- calls leave it, and the wait (which may give up after half of a statement's time) and the
    -- insert run in a transaction of their own.
    FOREACH v_lock IN ARRAY coalesce(p_locks, '{}') LOOP
      v_locked := v_locked AND pg_try_advisory_xact_lock(v_lock);
    END LOOP;
    IF NOT v_locked THEN
      COMMIT;
      v_committed := true;
      PERFORM set_config('synchronous_commit', 'off', true),
        set_config('lock_timeout', p_lock_timeout || 'ms', true);
      FOREACH v_lock IN ARRAY p_locks LOOP
        PERFORM pg_advisory_xact_lock(v_lock);
      END LOOP;
    END IF;
${postgresInserted(t)}  END admission;
  IF NOT v_committed THEN
${postgresFlush}  END IF;
END
$admit$`
}

/**
 * The MySQL/MariaDB procedure, one statement to drop and one to create it (there is no
 * `CREATE OR REPLACE PROCEDURE` in MySQL). Attempts come as a JSON array of `[key, limit]` and
 * channels as a JSON array of strings (a procedure takes no arrays); the `GET_LOCK` names (at
 * most two, sorted) and their wait come from the caller, as `Dialect.begin` makes them.
 *
 * One transaction, one commit, under the cap locks (`GET_LOCK` is a session lock, not a
 * transactional one, so it works in a procedure as in `sessions.add`), tried without waiting once
 * the token is used and released after the `COMMIT`. Since v7, when one is taken, the attempts
 * and the token commit first and the wait and the insert run in a second transaction, as on
 * PostgreSQL (v6 waited holding its rows, which an `admit_many` call holding the cap lock could
 * be waiting for); a wait that gives up leaves the attempts and the token, as the composed calls
 * leave them. InnoDB releases row locks before it flushes a
 * commit, so the rows of an IP's attempts and the session bound are not held across the flush;
 * the cap locks are, as in `sessions.add`. A failure rolls back the transaction and frees the
 * locks; the error goes on to the caller. Every commit is as durable as the server's
 * `innodb_flush_log_at_trx_commit` makes it (MySQL has no setting for one transaction): with one
 * commit, one redo flush per admission (v5 had two).
 */
export function mysqlAdmit(t: Tables): string[] {
  const text = 'LONGTEXT CHARACTER SET utf8mb4'
  const bin = 'VARBINARY(512)'
  return [
    `DROP PROCEDURE IF EXISTS ${t.admit}`,
    `CREATE PROCEDURE ${t.admit}(
    IN p_now BIGINT, IN p_window BIGINT, IN p_attempts ${text},
    IN p_jti ${bin}, IN p_token_expires BIGINT,
    IN p_id ${bin}, IN p_user_id ${bin}, IN p_instance_id ${bin}, IN p_ip ${bin},
    IN p_connected_at BIGINT, IN p_last_seen_at BIGINT, IN p_channels ${text},
    IN p_per_user BIGINT, IN p_per_ip BIGINT, IN p_total BIGINT,
    IN p_lock1 VARCHAR(64), IN p_lock2 VARCHAR(64), IN p_lock_wait DOUBLE)
  MODIFIES SQL DATA
BEGIN
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
  -- A failure rolls back all the call did (a deadlock's victim lost nothing: the caller runs it
  -- again), but for what a lock wait that gave up committed.
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    ROLLBACK;
    DO RELEASE_LOCK(p_lock1), RELEASE_LOCK(p_lock2);
    RESIGNAL;
  END;
  SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
  START TRANSACTION;
  admission: BEGIN
${mysqlCounted(t)}    -- The capped insert, as sessions.add runs it, under the cap locks, tried without waiting
    -- (v7). If one is taken, what was counted and used commits first, as the composed calls
    -- leave it, and the wait and the insert run in a transaction of their own: so no row of this
    -- call is held while it waits (an admit_many call that holds the lock may wait for one).
    SET v_got = 1;
    IF p_lock1 IS NOT NULL THEN
      SET v_got = GET_LOCK(p_lock1, 0);
    END IF;
    IF v_got = 1 AND p_lock2 IS NOT NULL THEN
      SET v_got = GET_LOCK(p_lock2, 0);
      IF v_got IS NULL OR v_got <> 1 THEN
        COMMIT;
        SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
        START TRANSACTION;
        SET v_got = GET_LOCK(p_lock2, p_lock_wait);
      END IF;
    ELSEIF v_got IS NULL OR v_got <> 1 THEN
      COMMIT;
      SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
      START TRANSACTION;
      SET v_got = GET_LOCK(p_lock1, p_lock_wait);
      IF v_got = 1 AND p_lock2 IS NOT NULL THEN
        SET v_got = GET_LOCK(p_lock2, p_lock_wait);
      END IF;
    END IF;
    IF v_got IS NULL OR v_got <> 1 THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ws-warden: lock wait exceeded';
    END IF;
${mysqlInserted(t)}  END admission;
  COMMIT;
  DO RELEASE_LOCK(p_lock1), RELEASE_LOCK(p_lock2);
  SELECT v_answer AS answer, v_attempt AS attempt, v_ends AS window_ends;
END`,
  ]
}

// The steps of one admission, shared by the single routine and the batch one
// (admission-many-sql.ts): each is text spliced into a procedure body at its indentation. They
// read the p_* parameters (the batch routine declares them as variables, one request at a time)
// and set answer/attempt/window_ends (PostgreSQL) or v_answer/v_attempt/v_ends (MySQL).

/** READ COMMITTED checked, the lock timeout and the commit's flush set for the transaction. */
export const postgresPreamble = `  -- Each statement below must see what committed before it (a count after a lock sees its last
  -- holder's insert): READ COMMITTED, as every transaction of the stores. It cannot be set here.
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'ws-warden: admit needs READ COMMITTED, not %',
      current_setting('transaction_isolation');
  END IF;
  PERFORM set_config('lock_timeout', p_lock_timeout || 'ms', true),
    set_config('synchronous_commit',
      CASE WHEN v_flush THEN current_setting('synchronous_commit') ELSE 'off' END, true);
`

/** The attempts, then the token; answers and leaves `admission` there, or when no session. */
export function postgresCounted(t: Tables): string {
  return `    -- The attempts, as db.hit counts them, up to the first refusal.
    FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
      INSERT INTO ${t.rateLimits} AS r (name, hits, expires_at)
        VALUES (p_keys[i], 1, p_now + p_window)
        ON CONFLICT (name) DO UPDATE SET
          hits = CASE WHEN r.expires_at <= p_now THEN 1 ELSE r.hits + 1 END,
          expires_at = CASE WHEN r.expires_at <= p_now THEN EXCLUDED.expires_at
            ELSE r.expires_at END
        RETURNING r.hits, r.expires_at INTO v_hits, window_ends;
      IF v_hits > p_limits[i] THEN
        answer := 'attempts';
        attempt := i;
        EXIT admission;
      END IF;
    END LOOP;
    window_ends := NULL;
    -- The token id, as claim() takes it: a row left by an expired token of the same id is
    -- replaced. A token that has expired already is not stored.
    IF p_token_expires > p_now THEN
      INSERT INTO ${t.tokens} AS k (jti, expires_at) VALUES (p_jti, p_token_expires)
        ON CONFLICT (jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
        WHERE k.expires_at <= p_now;
      IF NOT FOUND THEN
        answer := 'replayed';
        EXIT admission;
      END IF;
    END IF;
    IF p_id IS NULL THEN
      answer := 'ok';
      EXIT admission;
    END IF;
`
}

/** The caps checked and the session inserted, its cap locks held; answers `ok` at the end. */
export function postgresInserted(t: Tables): string {
  return `    -- The per-user and per-IP counts, the record's own id not counted, only when the session
    -- bound (never below the number of records) reaches the cap: below it no user or IP can be
    -- at the cap.
    IF p_per_user IS NOT NULL OR p_per_ip IS NOT NULL THEN
      SELECT
        CASE WHEN p_per_user IS NOT NULL AND coalesce(b.value >= p_per_user, true) THEN
          (SELECT count(*) FROM ${t.sessions} WHERE user_id = p_user_id AND id <> p_id) END,
        CASE WHEN p_per_ip IS NOT NULL AND coalesce(b.value >= p_per_ip, true) THEN
          (SELECT count(*) FROM ${t.sessions} WHERE ip = p_ip AND id <> p_id) END
        INTO v_user, v_ip
        FROM (SELECT (SELECT value FROM ${t.counters} WHERE name = 'sessions') AS value) AS b;
      IF v_user >= p_per_user THEN
        answer := 'user';
        EXIT admission;
      END IF;
      IF v_ip >= p_per_ip THEN
        answer := 'ip';
        EXIT admission;
      END IF;
    END IF;
    -- The total's bound, raised as sessions.add raises it, and recounted under its row lock when
    -- it is at the cap. Before the insert, so that a refusal has nothing to undo (no savepoint):
    -- the bound's row is then locked for the insert as well, a few statements inside this call.
    IF p_total IS NULL THEN
      UPDATE ${t.counters} SET value = value + 1 WHERE name = 'sessions';
    ELSE
      UPDATE ${t.counters} SET value = value + 1 WHERE name = 'sessions' AND value < p_total;
      IF NOT FOUND THEN
        PERFORM 1 FROM ${t.counters} WHERE name = 'sessions' FOR UPDATE;
        SELECT count(*) INTO v_count FROM ${t.sessions} WHERE id <> p_id;
        IF v_count >= p_total THEN
          answer := 'total';
          EXIT admission;
        END IF;
        INSERT INTO ${t.counters} (name, value) VALUES ('sessions', v_count + 1)
          ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;
      END IF;
    END IF;
    INSERT INTO ${t.sessions} (id, user_id, instance_id, ip, connected_at, last_seen_at)
      VALUES (p_id, p_user_id, p_instance_id, p_ip, p_connected_at, p_last_seen_at)
      ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id,
        instance_id = EXCLUDED.instance_id, ip = EXCLUDED.ip,
        connected_at = EXCLUDED.connected_at, last_seen_at = EXCLUDED.last_seen_at;
    -- Channels it no longer has go, new ones come: no row is both deleted and inserted.
    DELETE FROM ${t.channels} WHERE session_id = p_id AND channel <> ALL(p_channels);
    IF cardinality(p_channels) > 0 THEN
      INSERT INTO ${t.channels} (session_id, channel)
        SELECT p_id, ch FROM unnest(p_channels) AS ch ON CONFLICT DO NOTHING;
    END IF;
    answer := 'ok';
`
}

/** The end of a call that has not committed yet: one commit, then the durable empty one. */
export const postgresFlush = `    -- One commit for all of it, without waiting for the flush, so that no row it locked (the
    -- attempts' rows, the session bound's) is held across one; then the call's own durable
    -- commit, of a transaction that holds nothing. WAL is flushed in order, so its flush makes
    -- the admission durable before the call answers (a lost consume would let a token be used
    -- again, a lost hit let a client past its limit). A crash before it loses the whole call,
    -- which never answered. A commit waits for the flush only if its transaction has an id and
    -- wrote WAL: a transactional logical message (prefix 'ws-warden', no content) does both,
    -- and touches no table.
    PERFORM set_config('synchronous_commit', 'off', true);
    IF v_flush THEN
      COMMIT;
      PERFORM pg_logical_emit_message(true, 'ws-warden', '');
    END IF;
`

/** MySQL: the attempts, then the token; as {@link postgresCounted}. */
export function mysqlCounted(t: Tables): string {
  return `    WHILE v_i < JSON_LENGTH(p_attempts) DO
      SET v_key = JSON_UNQUOTE(JSON_EXTRACT(p_attempts, CONCAT('$[', v_i, '][0]')));
      SET v_limit = JSON_EXTRACT(p_attempts, CONCAT('$[', v_i, '][1]'));
      SET v_i = v_i + 1;
      -- hits is assigned first: the expires_at test after it still sees the old window. The new
      -- count comes back as LAST_INSERT_ID(expr), as in db.hit; a fresh row is one affected.
      INSERT INTO ${t.rateLimits} (name, hits, expires_at) VALUES (v_key, 1, p_now + p_window)
        ON DUPLICATE KEY UPDATE hits = LAST_INSERT_ID(IF(expires_at <= p_now, 1, hits + 1)),
          expires_at = IF(expires_at <= p_now, VALUES(expires_at), expires_at);
      SET v_hits = IF(ROW_COUNT() = 1, 1, LAST_INSERT_ID());
      IF v_hits > v_limit THEN
        -- Only a refusal answers the window's end: the row is locked, and read once.
        SELECT expires_at INTO v_ends FROM ${t.rateLimits} WHERE name = v_key;
        SET v_answer = 'attempts', v_attempt = v_i;
        LEAVE admission;
      END IF;
    END WHILE;
    SET v_ends = NULL;
    IF p_token_expires > p_now THEN
      INSERT IGNORE INTO ${t.tokens} (jti, expires_at) VALUES (p_jti, p_token_expires);
      SET v_count = ROW_COUNT();
      IF v_count = 0 THEN
        DELETE FROM ${t.tokens} WHERE jti = p_jti AND expires_at <= p_now;
        IF ROW_COUNT() > 0 THEN
          INSERT IGNORE INTO ${t.tokens} (jti, expires_at) VALUES (p_jti, p_token_expires);
          SET v_count = ROW_COUNT();
        END IF;
      END IF;
      IF v_count = 0 THEN
        SET v_answer = 'replayed';
        LEAVE admission;
      END IF;
    END IF;
    IF p_id IS NULL THEN
      SET v_answer = 'ok';
      LEAVE admission;
    END IF;
`
}

/** MySQL: the caps and the insert, the cap locks held; as {@link postgresInserted}. */
export function mysqlInserted(t: Tables): string {
  return `    -- The per-user and per-IP counts, the record's own id not counted, only when the session
    -- bound (never below the number of records) reaches the cap. (v8) The bound is read on its
    -- own, each count only when needed: v7's one query over a derived table for all three cost
    -- MariaDB 10.11 about a fifth more CPU per batched admission. Each is a SELECT ... INTO, a
    -- read that takes no lock. Written as subqueries in a SET, they deadlocked the race
    -- tests' concurrent admissions on the bound's UPDATE below (a subquery of a statement other
    -- than SELECT may read with shared locks).
    IF p_per_user IS NOT NULL OR p_per_ip IS NOT NULL THEN
      SET v_bound = NULL, v_user = NULL, v_ip = NULL;
      SELECT value INTO v_bound FROM ${t.counters} WHERE name = 'sessions';
      IF p_per_user IS NOT NULL AND COALESCE(v_bound >= p_per_user, TRUE) THEN
        SELECT COUNT(*) INTO v_user FROM ${t.sessions} WHERE user_id = p_user_id AND id <> p_id;
      END IF;
      IF p_per_ip IS NOT NULL AND COALESCE(v_bound >= p_per_ip, TRUE) THEN
        SELECT COUNT(*) INTO v_ip FROM ${t.sessions} WHERE ip = p_ip AND id <> p_id;
      END IF;
      IF v_user >= p_per_user THEN
        SET v_answer = 'user';
        LEAVE admission;
      END IF;
      IF v_ip >= p_per_ip THEN
        SET v_answer = 'ip';
        LEAVE admission;
      END IF;
    END IF;
    IF p_total IS NULL THEN
      UPDATE ${t.counters} SET value = value + 1 WHERE name = 'sessions';
    ELSE
      UPDATE ${t.counters} SET value = value + 1 WHERE name = 'sessions' AND value < p_total;
      IF ROW_COUNT() = 0 THEN
        SELECT COUNT(*) INTO v_count FROM ${t.counters} WHERE name = 'sessions' FOR UPDATE;
        SELECT COUNT(*) INTO v_count FROM ${t.sessions} WHERE id <> p_id;
        IF v_count >= p_total THEN
          SET v_answer = 'total';
          LEAVE admission;
        END IF;
        INSERT INTO ${t.counters} (name, value) VALUES ('sessions', v_count + 1)
          ON DUPLICATE KEY UPDATE value = VALUES(value);
      END IF;
    END IF;
    INSERT INTO ${t.sessions} (id, user_id, instance_id, ip, connected_at, last_seen_at)
      VALUES (p_id, p_user_id, p_instance_id, p_ip, p_connected_at, p_last_seen_at)
      ON DUPLICATE KEY UPDATE user_id = VALUES(user_id), instance_id = VALUES(instance_id),
        ip = VALUES(ip), connected_at = VALUES(connected_at), last_seen_at = VALUES(last_seen_at);
    DELETE FROM ${t.channels} WHERE session_id = p_id;
    SET v_i = 0;
    WHILE v_i < JSON_LENGTH(p_channels) DO
      INSERT INTO ${t.channels} (session_id, channel)
        VALUES (p_id, JSON_UNQUOTE(JSON_EXTRACT(p_channels, CONCAT('$[', v_i, ']'))));
      SET v_i = v_i + 1;
    END WHILE;
    SET v_answer = 'ok';
`
}
