/** Order statistics and the JSON line every workload prints. */

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[index]!
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Percentiles and extremes; no spread of the samples (a million of them overflow the stack). */
export function summarize(samples: readonly number[]) {
  const sorted = [...samples].sort((a, b) => a - b)
  return {
    min: round(sorted[0] ?? Number.NaN),
    p50: round(percentile(sorted, 0.5)),
    p95: round(percentile(sorted, 0.95)),
    p99: round(percentile(sorted, 0.99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
  }
}

export function round(value: number, digits = 3): number {
  return Number(value.toFixed(digits))
}

export function report(line: Record<string, unknown>): void {
  console.log(JSON.stringify(line))
}

export async function timed<T>(operation: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now()
  const result = await operation()
  return [result, performance.now() - started]
}
