/**
 * The pure part of cron schedules (src/schedule.ts): validation, ticks, time zones, DST,
 * catch-up and keys. Every case is driven by fixed dates; nothing waits for real time.
 *
 * DST dates used (Europe/Berlin, 2025): spring forward on 30 March at 01:00Z (02:00 CET ->
 * 03:00 CEST, so 02:00-02:59 does not exist); fall back on 26 October at 01:00Z (03:00 CEST ->
 * 02:00 CET, so 02:00-02:59 happens twice: first at 00:xxZ, then at 01:xxZ).
 */
import { scheduledJobs } from 'croner'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { InvalidArgumentError } from '../src/errors.js'
import {
  catchUpTick,
  DEFAULT_SCHEDULE_TIMEZONE,
  followingTick,
  nextTick,
  nextTicks,
  type ScheduleDefinition,
  scheduleTimezone,
  tickIdempotencyKey,
  validateSchedule,
} from '../src/schedule.js'

const WHERE = 'defineJob("nightly")'
const at = (iso: string): Date => new Date(iso)
const isoList = (dates: Date[]): string[] => dates.map((date) => date.toISOString())
const berlin = (cron: string): ScheduleDefinition => ({ cron, timezone: 'Europe/Berlin' })

/** Runs `fn` expecting an InvalidArgumentError, and returns its message for closer checks. */
function invalidArgument(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect((error as InvalidArgumentError).code).toBe('INVALID_ARGUMENT')
    return (error as InvalidArgumentError).message
  }
  throw new Error('expected an InvalidArgumentError, nothing was thrown')
}

describe('validateSchedule', () => {
  it('accepts a valid schedule and returns a copy with only the keys given', () => {
    const input = { report: 'daily' }
    const given = { cron: '30 2 * * *', timezone: 'Europe/Berlin', input }
    const schedule = validateSchedule(given, WHERE)
    expect(schedule).toEqual(given)
    expect(schedule).not.toBe(given)
    expect(validateSchedule({ cron: '0 * * * *' }, WHERE)).toStrictEqual({ cron: '0 * * * *' })
  })

  it('accepts 6-field (seconds first), 7-field (year) and nickname expressions', () => {
    for (const cron of ['* * * * * *', '0 0 12 * * * 2099', '@daily', '@hourly', '0 ? * * *']) {
      expect(validateSchedule({ cron }, WHERE).cron).toBe(cron)
    }
  })

  it('rejects a schedule that is not an object', () => {
    for (const value of [null, '0 * * * *', ['0 * * * *'], 5]) {
      expect(invalidArgument(() => validateSchedule(value, WHERE))).toContain(
        `${WHERE}: "schedule" must be an object`,
      )
    }
  })

  it('rejects an unknown key, naming the job and the key', () => {
    const message = invalidArgument(() =>
      validateSchedule({ cron: '0 * * * *', timzone: 'Europe/Berlin' }, WHERE),
    )
    expect(message).toBe(
      `${WHERE}: unknown schedule option "timzone" (allowed: cron, timezone, input)`,
    )
  })

  it('rejects a cron that is not a string', () => {
    expect(invalidArgument(() => validateSchedule({ cron: 5 }, WHERE))).toBe(
      `${WHERE}: schedule.cron must be a non-empty cron expression string, got 5`,
    )
  })

  it('rejects a missing or blank cron', () => {
    expect(invalidArgument(() => validateSchedule({}, WHERE))).toContain('got undefined')
    expect(invalidArgument(() => validateSchedule({ cron: '   ' }, WHERE))).toContain(
      'schedule.cron must be a non-empty cron expression string',
    )
  })

  it('rejects an out-of-range field with croner’s reason', () => {
    expect(invalidArgument(() => validateSchedule({ cron: '61 * * * *' }, WHERE))).toBe(
      `${WHERE}: schedule.cron "61 * * * *" is not a valid cron expression: Invalid value for minute: 61`,
    )
  })

  it('rejects a wrong number of fields with croner’s reason', () => {
    const message = invalidArgument(() => validateSchedule({ cron: '* * *' }, WHERE))
    expect(message).toContain(`${WHERE}: schedule.cron "* * *" is not a valid cron expression`)
    expect(message).toContain('five, six, or seven space separated parts')
  })

  it('rejects garbage and @reboot', () => {
    expect(invalidArgument(() => validateSchedule({ cron: 'every day' }, WHERE))).toContain(
      'is not a valid cron expression',
    )
    expect(invalidArgument(() => validateSchedule({ cron: '@reboot' }, WHERE))).toContain(
      '@reboot is not supported',
    )
  })

  it('rejects a date where a cron expression belongs (croner would fire it once)', () => {
    expect(
      invalidArgument(() => validateSchedule({ cron: '2025-01-01T00:00:00Z' }, WHERE)),
    ).toContain('looks like a date, not a cron expression (for one run at a set time use trigger')
  })

  it('rejects an expression that matches no date at all', () => {
    expect(invalidArgument(() => validateSchedule({ cron: '0 0 30 2 *' }, WHERE))).toBe(
      `${WHERE}: schedule.cron "0 0 30 2 *" never matches any date, so it would never run`,
    )
  })

  it('rejects an unknown IANA time zone with the reason', () => {
    const message = invalidArgument(() =>
      validateSchedule({ cron: '0 * * * *', timezone: 'Mars/Olympus_Mons' }, WHERE),
    )
    expect(message).toMatch(
      /^defineJob\("nightly"\): schedule\.timezone "Mars\/Olympus_Mons" is not a known IANA time zone \(.+\)$/,
    )
  })

  it('rejects a time zone that is not a non-empty string', () => {
    // croner would read '' as the process's own zone, which differs between machines.
    expect(
      invalidArgument(() => validateSchedule({ cron: '0 * * * *', timezone: '' }, WHERE)),
    ).toBe(`${WHERE}: schedule.timezone must be a non-empty IANA time zone name, got ""`)
    expect(
      invalidArgument(() => validateSchedule({ cron: '0 * * * *', timezone: 60 }, WHERE)),
    ).toContain('got 60')
  })
})

describe('nextTick and nextTicks', () => {
  it('gives the first tick strictly after the given instant', () => {
    const hourly = { cron: '0 * * * *' }
    expect(nextTick(hourly, at('2025-01-01T10:20:00Z'))).toEqual(at('2025-01-01T11:00:00Z'))
    // Exactly on a tick: that tick is not "after", the next one is.
    expect(nextTick(hourly, at('2025-01-01T11:00:00Z'))).toEqual(at('2025-01-01T12:00:00Z'))
  })

  it('returns null when the expression never fires again', () => {
    expect(nextTick({ cron: '0 0 12 1 1 * 2020' }, at('2025-01-01T00:00:00Z'))).toBeNull()
  })

  it('lists several ticks in order', () => {
    expect(isoList(nextTicks({ cron: '*/20 * * * *' }, at('2025-01-01T10:05:00Z'), 4))).toEqual([
      '2025-01-01T10:20:00.000Z',
      '2025-01-01T10:40:00.000Z',
      '2025-01-01T11:00:00.000Z',
      '2025-01-01T11:20:00.000Z',
    ])
    expect(nextTicks({ cron: '*/20 * * * *' }, at('2025-01-01T10:05:00Z'), 0)).toEqual([])
  })

  it('lists fewer ticks when the expression ends', () => {
    const twoYears = { cron: '0 0 0 1 1 * 2030,2031' }
    expect(isoList(nextTicks(twoYears, at('2025-01-01T00:00:00Z'), 5))).toEqual([
      '2030-01-01T00:00:00.000Z',
      '2031-01-01T00:00:00.000Z',
    ])
  })

  it('rejects a bad count or date', () => {
    for (const count of [-1, 1.5, Number.NaN, 1001]) {
      expect(invalidArgument(() => nextTicks({ cron: '* * * * *' }, new Date(), count))).toContain(
        'nextTicks: count must be an integer from 0 to 1000',
      )
    }
    expect(invalidArgument(() => nextTick({ cron: '* * * * *' }, new Date(Number.NaN)))).toBe(
      'nextTick: after must be a valid Date, got Invalid Date',
    )
  })

  it('reports a bad expression even when it was never validated', () => {
    expect(invalidArgument(() => nextTick({ cron: '61 * * * *' }, new Date()))).toContain(
      'nextTick: schedule.cron "61 * * * *" is not a valid cron expression',
    )
  })
})

describe('seconds field', () => {
  it('a 6-field expression ticks every second', () => {
    // Milliseconds are not ticks: from 10:00:00.500 the next tick is 10:00:01.
    expect(isoList(nextTicks({ cron: '* * * * * *' }, at('2025-01-01T10:00:00.500Z'), 3))).toEqual([
      '2025-01-01T10:00:01.000Z',
      '2025-01-01T10:00:02.000Z',
      '2025-01-01T10:00:03.000Z',
    ])
  })

  it('the first of six fields is the second', () => {
    expect(isoList(nextTicks({ cron: '*/15 * * * * *' }, at('2025-01-01T10:00:00Z'), 3))).toEqual([
      '2025-01-01T10:00:15.000Z',
      '2025-01-01T10:00:30.000Z',
      '2025-01-01T10:00:45.000Z',
    ])
    // A 5-field expression fires at second 0.
    expect(nextTick({ cron: '* * * * *' }, at('2025-01-01T10:00:00.500Z'))).toEqual(
      at('2025-01-01T10:01:00Z'),
    )
  })
})

describe('time zones', () => {
  const processZone = process.env.TZ
  afterEach(() => {
    if (processZone === undefined) delete process.env.TZ
    else process.env.TZ = processZone
  })

  it('without a time zone ticks are UTC, whatever the process zone', () => {
    process.env.TZ = 'America/Los_Angeles'
    // The process zone really changed: otherwise this test would prove nothing.
    expect(new Date('2025-01-01T12:00:00Z').getHours()).toBe(4)
    expect(scheduleTimezone({ cron: '0 9 * * *' })).toBe(DEFAULT_SCHEDULE_TIMEZONE)
    expect(nextTick({ cron: '0 9 * * *' }, at('2025-01-01T00:00:00Z'))).toEqual(
      at('2025-01-01T09:00:00Z'),
    )
  })

  it('a time zone moves the ticks with its offset, summer and winter', () => {
    const newYork = { cron: '0 9 * * *', timezone: 'America/New_York' }
    expect(nextTick(newYork, at('2025-01-15T00:00:00Z'))).toEqual(at('2025-01-15T14:00:00Z'))
    expect(nextTick(newYork, at('2025-07-15T00:00:00Z'))).toEqual(at('2025-07-15T13:00:00Z'))
  })

  it('a half-hour zone works', () => {
    const kolkata = { cron: '0 9 * * *', timezone: 'Asia/Kolkata' }
    expect(nextTick(kolkata, at('2025-01-15T00:00:00Z'))).toEqual(at('2025-01-15T03:30:00Z'))
  })
})

describe('daylight saving time (Europe/Berlin, 2025)', () => {
  it('gap, fixed time: 02:30 on the spring-forward day runs once, shifted to 03:00 CEST', () => {
    expect(isoList(nextTicks(berlin('30 2 * * *'), at('2025-03-29T12:00:00Z'), 3))).toEqual([
      '2025-03-30T01:00:00.000Z', // 03:00 CEST, the first instant after the gap
      '2025-03-31T00:30:00.000Z', // back to 02:30 CEST the next day
      '2025-04-01T00:30:00.000Z',
    ])
  })

  it('repeat, fixed time: 02:30 on the fall-back day runs once, at its first occurrence', () => {
    expect(isoList(nextTicks(berlin('30 2 * * *'), at('2025-10-25T12:00:00Z'), 2))).toEqual([
      '2025-10-26T00:30:00.000Z', // 02:30 CEST; 02:30 CET (01:30Z) is not a tick
      '2025-10-27T01:30:00.000Z',
    ])
  })

  it('a list of explicit times is fixed time too: shifted in the gap, once on the repeat', () => {
    const twiceDaily = berlin('30 2,14 * * *')
    expect(isoList(nextTicks(twiceDaily, at('2025-03-29T14:00:00Z'), 2))).toEqual([
      '2025-03-30T01:00:00.000Z',
      '2025-03-30T12:30:00.000Z',
    ])
    expect(isoList(nextTicks(twiceDaily, at('2025-10-25T13:00:00Z'), 2))).toEqual([
      '2025-10-26T00:30:00.000Z',
      '2025-10-26T13:30:00.000Z',
    ])
  })

  it('gap, interval: times that do not exist are skipped, nothing bunches up after', () => {
    expect(isoList(nextTicks(berlin('*/30 * * * *'), at('2025-03-30T00:00:00Z'), 3))).toEqual([
      '2025-03-30T00:30:00.000Z', // 01:30 CET
      '2025-03-30T01:00:00.000Z', // 03:00 CEST: 02:00 and 02:30 never happened
      '2025-03-30T01:30:00.000Z',
    ])
  })

  it('repeat, interval: both occurrences are ticks, each with its own key', () => {
    const ticks = nextTicks(berlin('*/30 * * * *'), at('2025-10-25T23:45:00Z'), 5)
    expect(isoList(ticks)).toEqual([
      '2025-10-26T00:00:00.000Z', // 02:00 CEST
      '2025-10-26T00:30:00.000Z', // 02:30 CEST
      '2025-10-26T01:00:00.000Z', // 02:00 CET
      '2025-10-26T01:30:00.000Z', // 02:30 CET
      '2025-10-26T02:00:00.000Z', // 03:00 CET
    ])
    const keys = ticks.map((tick) => tickIdempotencyKey('heartbeat', tick))
    expect(new Set(keys).size).toBe(ticks.length)
  })

  it('an hourly job runs 23 times on the spring-forward day and 25 on the fall-back day', () => {
    const ticksOnBerlinDay = (start: string, end: string): number =>
      nextTicks(berlin('0 * * * *'), at(start), 30).filter((tick) => tick < at(end)).length
    // Local midnight to midnight, given as UTC instants.
    expect(ticksOnBerlinDay('2025-03-29T22:59:59Z', '2025-03-30T22:00:00Z')).toBe(23)
    expect(ticksOnBerlinDay('2025-10-25T21:59:59Z', '2025-10-26T23:00:00Z')).toBe(25)
  })
})

describe('catch-up after an outage', () => {
  const everyMinute = { cron: '* * * * *' }

  it('a week-long outage gives one tick: the most recent due one', () => {
    const lastTick = at('2025-01-01T00:00:00Z')
    const now = at('2025-01-08T12:34:56Z')
    expect(catchUpTick(everyMinute, lastTick, now)).toEqual(at('2025-01-08T12:34:00Z'))
  })

  it('a tick exactly at now is due', () => {
    expect(
      catchUpTick(everyMinute, at('2025-01-01T00:00:00Z'), at('2025-01-01T00:05:00Z')),
    ).toEqual(at('2025-01-01T00:05:00Z'))
  })

  it('nothing missed gives null', () => {
    // The last tick already has its run and the next one is not due yet.
    expect(
      catchUpTick(everyMinute, at('2025-01-01T00:05:00Z'), at('2025-01-01T00:05:59Z')),
    ).toBeNull()
    // A last tick ahead of now (the pre-created next run) means nothing was missed.
    expect(
      catchUpTick(everyMinute, at('2025-01-01T00:06:00Z'), at('2025-01-01T00:05:30Z')),
    ).toBeNull()
  })

  it('a schedule with no tick yet does not fire for a tick before it existed', () => {
    expect(catchUpTick({ cron: '0 3 * * *' }, null, at('2025-01-01T10:00:00Z'))).toBeNull()
  })

  it('catch-up respects the time zone and the DST shift', () => {
    // Down from before the spring-forward day's 02:30 until 03:10 CEST: the missed tick is the
    // shifted one, 03:00 CEST, the same instant nextTick gives.
    const tick = catchUpTick(
      berlin('30 2 * * *'),
      at('2025-03-29T01:30:00Z'),
      at('2025-03-30T01:10:00Z'),
    )
    expect(tick).toEqual(at('2025-03-30T01:00:00Z'))
  })

  it('the tick after a late claim skips every missed tick', () => {
    // The pre-created 00:01 run is claimed a week late: its successor is the first tick after
    // now, not 00:02 (which would chain one overdue run per missed minute).
    expect(
      followingTick(everyMinute, at('2025-01-01T00:01:00Z'), at('2025-01-08T12:34:56Z')),
    ).toEqual(at('2025-01-08T12:35:00Z'))
  })

  it('the tick after an on-time claim is the next tick', () => {
    expect(
      followingTick(everyMinute, at('2025-01-01T00:01:00Z'), at('2025-01-01T00:01:00.020Z')),
    ).toEqual(at('2025-01-01T00:02:00Z'))
    // A claim whose clock is behind the tick still moves on past the tick.
    expect(
      followingTick(everyMinute, at('2025-01-01T00:01:00Z'), at('2025-01-01T00:00:59.900Z')),
    ).toEqual(at('2025-01-01T00:02:00Z'))
  })
})

describe('tickIdempotencyKey', () => {
  it('is schedule:<job>:<tick in UTC ISO>', () => {
    expect(tickIdempotencyKey('nightly', at('2025-03-30T01:00:00Z'))).toBe(
      'schedule:nightly:2025-03-30T01:00:00.000Z',
    )
  })

  it('is the same for the same tick computed from different instants', () => {
    const schedule = berlin('30 2 * * *')
    const fromMorning = nextTick(schedule, at('2025-06-01T05:00:00Z'))!
    const fromNight = nextTick(schedule, at('2025-06-01T23:00:00.123Z'))!
    expect(tickIdempotencyKey('nightly', fromMorning)).toBe(
      tickIdempotencyKey('nightly', fromNight),
    )
  })

  it('rejects an invalid date', () => {
    expect(invalidArgument(() => tickIdempotencyKey('nightly', new Date('nope')))).toContain(
      'tickIdempotencyKey: tick must be a valid Date',
    )
  })
})

describe('no timers', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('computing ticks arms no timer and registers no croner job', () => {
    // Only timers are faked, so the dates below stay real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'setImmediate'] })
    const schedule = validateSchedule({ cron: '* * * * * *', timezone: 'Europe/Berlin' }, WHERE)
    nextTick(schedule, at('2025-01-01T00:00:00Z'))
    nextTicks(schedule, at('2025-01-01T00:00:00Z'), 10)
    catchUpTick(schedule, at('2025-01-01T00:00:00Z'), at('2025-01-02T00:00:00Z'))
    followingTick(schedule, at('2025-01-01T00:00:00Z'), at('2025-01-02T00:00:00Z'))
    expect(vi.getTimerCount()).toBe(0)
    expect(scheduledJobs).toHaveLength(0)
  })
})
