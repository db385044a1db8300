/**
 * Durations as people write them in options: `'7d'`, `'12h'`, `'30m'`, `'45s'`, `'500ms'`, or
 * a number of milliseconds. A few lines rather than a dependency.
 */

/** A number of milliseconds, or a number followed by `ms`, `s`, `m`, `h`, `d` or `w`. */
export type Duration = number | `${number}${DurationUnit}`
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd' | 'w'

const UNIT_MS: Record<DurationUnit, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}

const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/

/** Milliseconds, or undefined when `value` is not a positive, finite duration. */
export function parseDuration(value: unknown): number | undefined {
  let ms: number | undefined
  if (typeof value === 'number') ms = value
  else if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim())
    if (match) ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit]
  }
  return ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : undefined
}
