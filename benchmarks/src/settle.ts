/**
 * Waiting for a quiet machine between measurements.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { sleep } from './stats.js'

export interface CpuTimes {
  readonly idle: number
  readonly total: number
}

/** All cores' CPU times from /proc/stat (clock ticks), or undefined where there is none. */
export function cpuTimes(): CpuTimes | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string
    const ticks = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0)
    return { idle, total: ticks.reduce((sum, value) => sum + value, 0) }
  } catch {
    return undefined
  }
}

/**
 * Waits until the machine is quiet: under `busy` of its CPU time in use (all cores) over two
 * windows of `windowMs` in a row, or until `maxMs` have passed. Resolves to the milliseconds
 * waited. After an admission run a database keeps working for most of a second (the run's
 * sessions being removed), and whatever is measured next would pay for it.
 */
export async function settle({ busy = 0.15, windowMs = 100, maxMs = 5_000 } = {}): Promise<number> {
  const started = performance.now()
  let last = cpuTimes()
  if (last === undefined) return 0
  let quiet = 0
  while (quiet < 2 && performance.now() - started < maxMs) {
    await sleep(windowMs)
    const now = cpuTimes() as CpuTimes
    const used = 1 - (now.idle - last.idle) / Math.max(1, now.total - last.total)
    last = now
    quiet = used < busy ? quiet + 1 : 0
  }
  return performance.now() - started
}
