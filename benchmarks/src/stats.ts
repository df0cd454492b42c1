/** A figure over several runs: the median, with the smallest and largest beside it. */
export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly runs: number
}

/** The median, min and max of the finite values (NaN figures when there are none). */
/** Adds `value` to the samples `map` keeps under `key`. */
export function push<K>(map: Map<K, number[]>, key: K, value: number): void {
  const samples = map.get(key)
  if (samples === undefined) map.set(key, [value])
  else samples.push(value)
}

export function summarize(values: readonly number[]): Summary {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b)
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: 0 }
  const middle = finite.length >> 1
  const median =
    finite.length % 2 === 1
      ? (finite[middle] as number)
      : ((finite[middle - 1] as number) + (finite[middle] as number)) / 2
  return {
    median,
    min: finite[0] as number,
    max: finite[finite.length - 1] as number,
    runs: finite.length,
  }
}

/** The p-th percentile (0–100) of values sorted ascending, nearest-rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

/** Element-wise ratios of two series measured in the same runs (a[i] / b[i]). */
export function ratios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((value, i) => value / (b[i] ?? Number.NaN))
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now()
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
