import { describe, expect, it } from 'vitest'
import { parseDuration } from '../src/duration.js'

describe('parseDuration()', () => {
  it.each([
    ['500ms', 500],
    ['45s', 45_000],
    ['30m', 1_800_000],
    ['12h', 43_200_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1.5h', 5_400_000],
    [' 7 d ', 604_800_000],
    [1000, 1000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each([0, -1, '0d', '-1d', '7', '7y', 'd', 'seven days', '', Number.NaN, Infinity, null, {}])(
    'refuses %j',
    (value) => {
      expect(parseDuration(value)).toBeUndefined()
    },
  )
})
