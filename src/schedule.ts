/**
 * Cron schedules, the pure part: validating a job's `schedule`, computing its ticks, and the
 * deterministic key each tick's run is created with. No database and no timers here: the
 * engine pre-creates the next tick as a delayed run and, when it claims a tick, creates the
 * following one in the same transaction (DESIGN.md, "Time, signals, ...").
 *
 * Parsing is croner's (no dependencies, runs in browsers, IANA time zones), never ours. We use
 * it only as a calculator: a `Cron` built without a callback never arms a timer (croner calls
 * `setTimeout` only from `schedule(fn)`), we also pass `paused: true`, and we never pass a
 * `name`, which would put the instance in croner's global `scheduledJobs` list for ever.
 *
 * Expressions: 5 fields (`min hour dom month dow`), 6 fields with seconds first
 * (`sec min hour dom month dow`, so `* * * * * *` ticks every second), or 7 with a trailing
 * year; nicknames such as `@daily`; `?` means `*`; day-of-month and day-of-week are ORed as in
 * Vixie cron. A string containing `:` is rejected: croner would read it as a one-off date, which
 * is `trigger(input, { runAt })`'s job, not a schedule's.
 *
 * Time zone: `timezone` defaults to UTC, not to the process's zone, because every process and
 * tab must compute the same ticks (and so the same idempotency keys) wherever it runs. Pass
 * e.g. `Intl.DateTimeFormat().resolvedOptions().timeZone` for the local zone.
 *
 * Daylight saving time (decided; tested in tests/schedule.test.ts with Europe/Berlin). A tick
 * is an instant, and its key is that instant in UTC, so two different instants can never share
 * a run. Which instants are ticks follows croner's fixed-time/interval split, with
 * `fixedTimeRule: 'no-wildcard'` (Vixie cron's rule, also the one croner-rust follows for
 * single values):
 * - Fixed-time expressions (seconds, minutes and hours hold only explicit values, no `*` and
 *   no step: `30 2 * * *`, `30 2,14 * * *`, `0 9-17 * * 1-5`) are wall-clock appointments.
 *   - Gap (spring forward, 02:30 does not exist in Berlin on 2025-03-30): the tick is shifted to
 *     the first instant after the gap, 03:00 CEST, and runs once. Skipping it would silently
 *     drop a daily job's run for that day.
 *   - Repeat (fall back, 02:30 happens twice on 2025-10-26): runs once, at the first
 *     occurrence (02:30 CEST = 00:30Z), not again an hour later.
 * - Interval expressions (a `*` or a step in seconds, minutes or hours: `*\/15 * * * *`,
 *   `0 * * * *`) follow elapsed time.
 *   - Gap: the wall-clock times that do not exist are not ticks; the next real one is
 *     (`*\/30` goes 01:30 CET -> 03:00 CEST). Nothing bunches up after the gap.
 *   - Repeat: both occurrences are ticks (an hourly job runs 25 times that day), because they
 *     are an hour apart in real time and an "every 15 minutes" job must not fall silent for an
 *     hour. Each occurrence has its own UTC key, so each still runs exactly once.
 * With the default `'single-value'` rule croner would treat `30 2,14 * * *` as an interval job
 * and drop 02:30 on the spring-forward day: `'no-wildcard'` keeps lists and ranges of explicit
 * times as appointments too.
 *
 * Missed ticks (everything was down): at most one run catches up, never one per missed tick.
 * - A pre-created tick that became due while nothing ran is simply claimed late on start: that
 *   is the one catch-up run. Its successor must be `followingTick(schedule, tick, now)` (the
 *   first tick after both the claimed tick and now), which skips the other missed ticks.
 * - If no run exists for the most recent due tick (e.g. the pre-created run was cancelled),
 *   `catchUpTick(schedule, lastTick, now)` names the one tick to run now: the latest tick at or
 *   before `now` that is after `lastTick` (the newest tick the job already has a run for).
 * Both answers are ticks, so their keys collide across processes that compute them at once.
 */
import { Cron } from 'croner'
import { InvalidArgumentError } from './errors.js'

/** `defineJob({ schedule })`: each tick of `cron` in `timezone` creates one run with `input`. */
export interface ScheduleDefinition<TInput = unknown> {
  /** 5, 6 (seconds first) or 7 (trailing year) fields, or a nickname such as `@daily`. */
  cron: string
  /** IANA time zone (`Europe/Berlin`). Defaults to `UTC`, the same in every process. */
  timezone?: string
  /** The input every tick's run gets; the job's own schema validates it. */
  input?: TInput
}

/** What tick computations read from a schedule; any `ScheduleDefinition` fits. */
export type ScheduleTiming = Pick<ScheduleDefinition, 'cron' | 'timezone'>

/** The zone a schedule without `timezone` runs in. */
export const DEFAULT_SCHEDULE_TIMEZONE = 'UTC'

/** The most ticks `nextTicks` computes at once: enough for any listing, bounded for HTTP. */
export const MAX_NEXT_TICKS = 1000

const SCHEDULE_KEYS: ReadonlySet<string> = new Set(['cron', 'timezone', 'input'])

/**
 * Checks a job's `schedule` option and returns a fresh, typed copy (so later changes to the
 * caller's object cannot change the schedule). `where` names the job in every message, e.g.
 * `defineJob("nightly-report")`.
 */
export function validateSchedule(schedule: unknown, where: string): ScheduleDefinition<unknown> {
  if (typeof schedule !== 'object' || schedule === null || Array.isArray(schedule)) {
    throw new InvalidArgumentError(
      `${where}: "schedule" must be an object { cron, timezone?, input? }`,
    )
  }
  const fields = schedule as Record<string, unknown>
  // A misspelt key (`timzone`) would otherwise be ignored and the job would silently run in
  // UTC: refuse every key we do not know.
  for (const key of Object.keys(fields)) {
    if (!SCHEDULE_KEYS.has(key)) {
      throw new InvalidArgumentError(
        `${where}: unknown schedule option "${key}" (allowed: cron, timezone, input)`,
      )
    }
  }

  const { cron, timezone, input } = fields
  if (typeof cron !== 'string' || cron.trim() === '') {
    throw new InvalidArgumentError(
      `${where}: schedule.cron must be a non-empty cron expression string, got ${describe(cron)}`,
    )
  }
  if (timezone !== undefined) {
    if (typeof timezone !== 'string' || timezone.trim() === '') {
      // croner reads '' as "the process's zone", which differs between machines.
      throw new InvalidArgumentError(
        `${where}: schedule.timezone must be a non-empty IANA time zone name, got ${describe(timezone)}`,
      )
    }
    assertTimeZone(timezone, where)
  }

  const result: ScheduleDefinition<unknown> = { cron }
  if (timezone !== undefined) result.timezone = timezone
  if (input !== undefined) result.input = input

  const parsed = compile(result, where)
  // An expression that matches no date at all (`0 0 30 2 *`, February 30th) is a mistake, not
  // a schedule: say so now rather than create no run, silently, for ever. Searching from the
  // epoch keeps this answer independent of the clock (a 7-field expression whose years are
  // all past is accepted; it simply has no next tick).
  if (parsed.nextRun(new Date(0)) === null) {
    throw new InvalidArgumentError(
      `${where}: schedule.cron "${cron}" never matches any date, so it would never run`,
    )
  }
  return result
}

/** The first tick strictly after `after`, or `null` if the expression never fires again. */
export function nextTick(schedule: ScheduleTiming, after: Date): Date | null {
  assertDate(after, 'nextTick', 'after')
  return compile(schedule, 'nextTick').nextRun(after)
}

/** Up to `count` ticks strictly after `after`, in order (fewer if the expression ends). */
export function nextTicks(schedule: ScheduleTiming, after: Date, count: number): Date[] {
  assertDate(after, 'nextTicks', 'after')
  if (!Number.isInteger(count) || count < 0 || count > MAX_NEXT_TICKS) {
    throw new InvalidArgumentError(
      `nextTicks: count must be an integer from 0 to ${MAX_NEXT_TICKS}, got ${describe(count)}`,
    )
  }
  if (count === 0) return []
  return compile(schedule, 'nextTicks').nextRuns(count, after)
}

/**
 * The idempotency key of a tick's run: the same in every process and tab that computes the
 * same tick, so however many of them create it, the store keeps one run. UTC ISO, so the two
 * occurrences of a repeated wall-clock time never share a key.
 */
export function tickIdempotencyKey(jobName: string, tick: Date): string {
  assertDate(tick, 'tickIdempotencyKey', 'tick')
  return `schedule:${jobName}:${tick.toISOString()}`
}

/**
 * The one tick to run now after an outage: the latest tick at or before `now` that is after
 * `lastTick` (the newest tick the job already has a run for), or `null` if none was missed.
 * However many ticks were missed, this is one tick, so the engine creates one catch-up run.
 * `lastTick === null` (the schedule has never had a run) gives `null`: a newly deployed daily
 * job should wait for its next tick, not fire at once for one that passed before it existed.
 */
export function catchUpTick(
  schedule: ScheduleTiming,
  lastTick: Date | null,
  now: Date,
): Date | null {
  assertDate(now, 'catchUpTick', 'now')
  if (lastTick === null) return null
  assertDate(lastTick, 'catchUpTick', 'lastTick')
  // Ticks fall on whole seconds and croner's previousRuns returns the last tick strictly
  // before the reference (counting one earlier in the same second), so now + 1 ms makes the
  // bound inclusive: a tick exactly at `now` is due.
  const latest = compile(schedule, 'catchUpTick').previousRuns(1, new Date(now.getTime() + 1))[0]
  if (latest === undefined || latest.getTime() <= lastTick.getTime()) return null
  return latest
}

/**
 * The tick to pre-create when `claimedTick` is claimed at `now`: the first tick after both.
 * Using `nextTick(schedule, claimedTick)` instead would, after an outage, pre-create an
 * already-due tick, then another, one run per missed tick; this skips straight past `now`.
 */
export function followingTick(schedule: ScheduleTiming, claimedTick: Date, now: Date): Date | null {
  assertDate(claimedTick, 'followingTick', 'claimedTick')
  assertDate(now, 'followingTick', 'now')
  const after = claimedTick.getTime() > now.getTime() ? claimedTick : now
  return compile(schedule, 'followingTick').nextRun(after)
}

/** The zone a schedule's ticks are computed in. */
export function scheduleTimezone(schedule: ScheduleTiming): string {
  return schedule.timezone ?? DEFAULT_SCHEDULE_TIMEZONE
}

/**
 * A calculator-only croner instance. Built per call: parsing takes microseconds, and holding
 * no cache means no state that could outlive a job definition.
 */
function compile(schedule: ScheduleTiming, where: string): Cron {
  const { cron } = schedule
  if (cron.includes(':')) {
    // croner treats any pattern containing ':' as an ISO date and would fire once.
    throw new InvalidArgumentError(
      `${where}: schedule.cron "${cron}" looks like a date, not a cron expression (for one run at a set time use trigger(input, { runAt }))`,
    )
  }
  try {
    return new Cron(cron, {
      paused: true,
      timezone: scheduleTimezone(schedule),
      // See the header: lists and ranges of explicit times are wall-clock appointments too.
      fixedTimeRule: 'no-wildcard',
    })
  } catch (error) {
    throw new InvalidArgumentError(
      `${where}: schedule.cron "${cron}" is not a valid cron expression: ${reason(error)}`,
    )
  }
}

/** Intl knows exactly the zones croner can compute in (croner uses it), in Node and browsers. */
function assertTimeZone(timezone: string, where: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone })
  } catch (error) {
    throw new InvalidArgumentError(
      `${where}: schedule.timezone "${timezone}" is not a known IANA time zone (${reason(error)})`,
    )
  }
}

function assertDate(value: Date, fn: string, name: string): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidArgumentError(`${fn}: ${name} must be a valid Date, got ${describe(value)}`)
  }
}

/** croner's messages start with the class that threw ("CronPattern: ..."): keep the reason. */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.replace(/^CronPattern:\s*/, '')
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : 'a Date'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'number' ? String(value) : typeof value
}
