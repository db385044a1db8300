/**
 * Cron schedules, the running part (the pure part is schedule.ts). Every tick is an ordinary
 * delayed run, triggered through the job's own handle (so its input is validated like any
 * other) with the deterministic idempotency key `schedule:<job>:<tick ISO>`: however many
 * processes or tabs create the same tick, the database keeps one run. No leader, no timer
 * of its own:
 * - when a worker starts (and when a scheduled job is registered on a started instance), it
 *   creates the next tick's run, and the one catch-up run if ticks were missed while
 *   everything was down (one run, not one per missed tick);
 * - when a tick's run is claimed, the following tick's run is created, so the chain goes on
 *   in whichever process ran the last tick;
 * - and, in case that process died between its claim and that insert, every idle worker
 *   checks once per polling interval (one indexed read per scheduled job; it writes only
 *   when the next tick's run is missing), so a live worker carries the chain on at once
 *   instead of after the dead one's lease goes stale.
 */
import type { Core } from './engine/core.js'
import { reportError } from './engine/core.js'
import type { AnyJobDefinition, JobHandle } from './job.js'
import {
  catchUpTick,
  followingTick,
  nextTick,
  nextTicks,
  type ScheduleDefinition,
  scheduleTimezone,
  tickIdempotencyKey,
} from './schedule.js'

/** What `durably.getSchedules()` answers for each scheduled job. */
export interface ScheduleInfo {
  jobName: string
  cron: string
  timezone: string
  /** The next tick after now (ISO-8601), or null if the expression never fires again. */
  nextTick: string | null
  /** The next few ticks, the first of them `nextTick`. */
  upcoming: string[]
}

export interface Scheduler {
  /** Create the next tick's run (and one catch-up run) of every scheduled job given. */
  ensure(definitions: readonly AnyJobDefinition[]): Promise<void>
  /** Between polls: `ensure` every scheduled job, at most once per polling interval. */
  maintain(definitions: readonly AnyJobDefinition[]): Promise<void>
  /** A tick's run was claimed: create the run of the tick after it. */
  followClaim(jobName: string, idempotencyKey: string | null): void
  list(definitions: readonly AnyJobDefinition[], upcoming?: number): ScheduleInfo[]
}

type AnyHandle = JobHandle<string, never, unknown>

export function createScheduler(
  core: Core,
  handleOf: (jobName: string) => AnyHandle | undefined,
): Scheduler {
  const prefixOf = (jobName: string) => `schedule:${jobName}:`

  async function createTick(jobName: string, schedule: ScheduleDefinition, tick: Date) {
    const handle = handleOf(jobName) as JobHandle<string, unknown, unknown> | undefined
    if (!handle) return
    await handle.trigger(schedule.input ?? {}, {
      runAt: tick,
      idempotencyKey: tickIdempotencyKey(jobName, tick),
    })
  }

  async function ensureOne(definition: AnyJobDefinition, schedule: ScheduleDefinition) {
    const now = new Date(core.now())
    const lastKey = await core.store.latestIdempotencyKey(
      definition.name,
      prefixOf(definition.name),
    )
    const lastTick = lastKey ? new Date(lastKey.slice(prefixOf(definition.name).length)) : null
    const missed = catchUpTick(schedule, lastTick, now)
    if (missed) await createTick(definition.name, schedule, missed)
    const next = nextTick(schedule, now)
    // Nothing to write when the next tick's run (or a later one) exists: the usual case.
    if (next && !(lastTick && lastTick.getTime() >= next.getTime())) {
      await createTick(definition.name, schedule, next)
    }
  }

  let lastMaintained = Number.NEGATIVE_INFINITY

  return {
    async ensure(definitions) {
      for (const definition of definitions) {
        if (!definition.schedule) continue
        await ensureOne(definition, definition.schedule).catch((error: unknown) =>
          reportError(core, 'schedule', error),
        )
      }
    },

    async maintain(definitions) {
      const now = core.now()
      if (now - lastMaintained < core.options.pollingInterval) return
      if (!definitions.some((definition) => definition.schedule)) return
      lastMaintained = now
      await this.ensure(definitions)
    },

    followClaim(jobName, idempotencyKey) {
      const definition = core.definitionOf(jobName)
      const prefix = prefixOf(jobName)
      if (!definition?.schedule || !idempotencyKey?.startsWith(prefix)) return
      const claimed = new Date(idempotencyKey.slice(prefix.length))
      if (Number.isNaN(claimed.getTime())) return
      const following = followingTick(definition.schedule, claimed, new Date(core.now()))
      if (!following) return
      void createTick(jobName, definition.schedule, following).catch((error: unknown) =>
        reportError(core, 'schedule', error),
      )
    },

    list(definitions, upcoming = 5) {
      const now = new Date(core.now())
      return definitions.flatMap((definition) => {
        const schedule = definition.schedule
        if (!schedule) return []
        const ticks = nextTicks(schedule, now, upcoming).map((tick) => tick.toISOString())
        return [
          {
            jobName: definition.name,
            cron: schedule.cron,
            timezone: scheduleTimezone(schedule),
            nextTick: ticks[0] ?? null,
            upcoming: ticks,
          },
        ]
      })
    },
  }
}
