import type { MySqlPool, PgPool } from '../../src/index.js'
import type { Target } from './dialects.js'
import { sleep } from './timing.js'

/**
 * Runs two updates of overlapping rows so that, if either locked its rows in its plan's order,
 * they would deadlock, and resolves what each settled to. `ids` are the ids of `table`'s rows,
 * inserted in descending id order (so the heap holds them the other way round from the index).
 *
 * A transaction of its own locks the middle id. `few(first, middle, last)` starts: an index scan,
 * it locks the first id (lowest), then waits for the middle one. `all(ids)` starts: a plain
 * UPDATE that scans the heap would lock the last id (inserted first), then wait for the middle
 * one too. The blocker commits: `few` gets the middle id, then waits for the last one, which
 * `all` holds while it waits for the first one, which `few` holds: a deadlock. Updates that lock
 * rows in id order do not deadlock: `all` waits for the first id, before taking any other.
 */
export async function crossedUpdates(
  db: Target,
  table: string,
  ids: readonly string[],
  few: (ids: string[]) => Promise<unknown>,
  all: (ids: readonly string[]) => Promise<unknown>,
): Promise<PromiseSettledResult<unknown>[]> {
  const sorted = [...ids].sort()
  const first = sorted[0] as string
  const middle = sorted[Math.floor(sorted.length / 2)] as string
  const last = sorted[sorted.length - 1] as string
  const release = await lockRow(db, table, middle)
  const waiting = (n: number) => untilWaiting(db, table, n)
  const settled: Promise<PromiseSettledResult<unknown>>[] = []
  try {
    settled.push(settle(few([first, middle, last])))
    await waiting(1)
    settled.push(settle(all(ids)))
    await waiting(2)
  } finally {
    await release()
  }
  return Promise.all(settled)
}

const settle = (promise: Promise<unknown>): Promise<PromiseSettledResult<unknown>> =>
  promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason }),
  )

/**
 * Resolves once at least `n` statements on `table` wait for a row lock (rejects after about 15 s):
 * what a test waits for before it lets a lock go, instead of sleeping and hoping.
 */
export async function untilWaiting(db: Target, table: string, n: number): Promise<void> {
  // MariaDB refreshes INNODB_TRX only after 100 ms without a read of it: poll slower than that.
  for (let i = 0; i < 100; i++) {
    if ((await waitingOn(db, table)) >= n) return
    await sleep(150)
  }
  throw new Error(`not ${n} statements waiting for a lock on ${table}`)
}

/** How many statements on `table` wait for a row lock. */
async function waitingOn(db: Target, table: string): Promise<number> {
  const pattern = `%${table.replace(/[`"]/g, '').split('.').at(-1)}%`
  const result =
    db.name === 'postgres'
      ? await db.admin(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
          [pattern],
        )
      : await db.admin(
          "SELECT count(*) AS n FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT' AND trx_query LIKE ?",
          [pattern],
        )
  const rows = Array.isArray(result)
    ? (result as [{ n: unknown }[]])[0]
    : (result as { rows: { n: unknown }[] }).rows
  return Number(rows[0]?.n)
}

/** Locks one row of `table` in a transaction of its own; resolves a function that commits it. */
async function lockRow(db: Target, table: string, id: string): Promise<() => Promise<void>> {
  const pool = db.pool()
  if ('getConnection' in pool) {
    const connection = await (pool as MySqlPool).getConnection()
    await connection.query({ sql: 'START TRANSACTION' })
    await connection.query({ sql: `SELECT id FROM ${table} WHERE id = ? FOR UPDATE`, values: [id] })
    return async () => {
      await connection.query({ sql: 'COMMIT' })
      connection.release()
    }
  }
  const client = await (pool as PgPool).connect()
  await client.query({ text: 'BEGIN' })
  await client.query({ text: `SELECT id FROM ${table} WHERE id = $1 FOR UPDATE`, values: [id] })
  return async () => {
    await client.query({ text: 'COMMIT' })
    client.release()
  }
}
