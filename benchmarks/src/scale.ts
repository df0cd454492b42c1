import type { StoreKind } from './services.js'

/** Every count and time of a bench run; `FULL` writes RESULTS.md, `SMOKE` runs in seconds. */
export interface Scale {
  readonly name: 'full' | 'smoke'
  /** Runs of every measurement; figures are the median with min and max. */
  readonly runs: number
  /** Client processes a large client population is split over. */
  readonly clientProcesses: number
  readonly stores: {
    readonly ops: Readonly<Record<StoreKind, number>>
    readonly touchOps: Readonly<Record<StoreKind, number>>
    readonly touchBatch: number
    readonly sweepRecords: number
  }
  readonly admission: {
    readonly connections: number
    readonly inflight: number
    /** Connections opened (and closed) on every server before the first measured run: JIT warm-up. */
    readonly warmup: number
    /**
     * Connections per slice: a measurement opens `connections` on raw ws and on the combination
     * in alternating slices of this size, so that both see the same machine.
     */
    readonly slice: number
  }
  /** Token verifications per measurement (micro). */
  readonly verify: { readonly ops: number }
  readonly broadcast: {
    readonly clients: readonly number[]
    readonly messages: number
    readonly bytes: number
  }
  /**
   * The across-instances run, in two shapes: `fanout` (many clients, where each instance's own
   * sends are most of the work) and `broker` (few clients, many messages: the path from one
   * instance's publish to the others' delivery is the work).
   */
  readonly across: {
    readonly fanout: { readonly clients: number; readonly messages: number }
    readonly broker: { readonly clients: number; readonly messages: number }
  }
  readonly memory: {
    /**
     * Connections opened and kept open before the first reading, so that the measured ones pay
     * only what each connection adds, not what a process pays once as it grows (its young
     * generation, allocator arenas, compiled code).
     */
    readonly baseConnections: number
    /**
     * Idle time before each memory reading: V8 gives back the pages a burst of handshakes
     * left (its young generation, freed old-space pages) only after some idle seconds.
     */
    readonly settleMs: number
    readonly connections: number
    readonly inflight: number
    readonly heartbeatMs: number
    readonly cpuWindowMs: number
  }
  readonly flood: {
    readonly clients: number
    readonly roomSize: number
    readonly rate: number
    readonly durationMs: number
  }
}

export const FULL: Scale = {
  name: 'full',
  runs: 3,
  clientProcesses: 2,
  stores: {
    ops: { memory: 20_000, redis: 3_000, postgres: 1_000, mysql: 1_000 },
    touchOps: { memory: 100, redis: 20, postgres: 10, mysql: 10 },
    touchBatch: 1_000,
    sweepRecords: 100_000,
  },
  admission: { connections: 5_000, inflight: 100, warmup: 1_000, slice: 500 },
  verify: { ops: 20_000 },
  broadcast: { clients: [1_000, 5_000], messages: 100, bytes: 100 },
  across: {
    fanout: { clients: 2_000, messages: 1_000 },
    broker: { clients: 20, messages: 20_000 },
  },
  memory: {
    baseConnections: 5_000,
    settleMs: 10_000,
    connections: 10_000,
    inflight: 200,
    heartbeatMs: 1_000,
    cpuWindowMs: 12_000,
  },
  flood: { clients: 1_000, roomSize: 10, rate: 1, durationMs: 10_000 },
}

export const SMOKE: Scale = {
  name: 'smoke',
  runs: 2,
  clientProcesses: 1,
  stores: {
    ops: { memory: 50, redis: 20, postgres: 10, mysql: 10 },
    touchOps: { memory: 3, redis: 2, postgres: 2, mysql: 2 },
    touchBatch: 10,
    sweepRecords: 50,
  },
  admission: { connections: 6, inflight: 3, warmup: 2, slice: 3 },
  verify: { ops: 50 },
  broadcast: { clients: [6], messages: 3, bytes: 100 },
  across: { fanout: { clients: 6, messages: 3 }, broker: { clients: 3, messages: 6 } },
  memory: {
    baseConnections: 3,
    settleMs: 200,
    connections: 6,
    inflight: 3,
    heartbeatMs: 200,
    cpuWindowMs: 600,
  },
  flood: { clients: 6, roomSize: 3, rate: 5, durationMs: 800 },
}
