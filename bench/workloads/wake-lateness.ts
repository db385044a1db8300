/**
 * Wake-up lateness: N runs of a job whose body is `step.sleepUntil('nap', T)` then one tiny
 * step, all sleeping until the same instant T, which falls a few seconds after the last of
 * them went to sleep. The worker keeps the library's defaults (pollingInterval 1000) at the
 * given concurrency; T is not a multiple of the polling interval away from the start, so only
 * the timer armed for the earliest `available_at` wakes the worker on time.
 *
 * Everything is measured from events, timestamped with the wall clock in the listener (the
 * emitter delivers synchronously): per run, `run:start` of the resumed execution − T and
 * `step:start` of the step after the sleep − T; and the last `run:complete` − T.
 */
import { z } from 'zod'
import { defineJob } from '../../src/index.js'
import { openBench } from '../setup.js'
import { report, round, summarize } from '../stats.js'

const napJob = defineJob({
  name: 'nap-then-step',
  input: z.object({ until: z.number() }),
  run: async (step, { until }) => {
    await step.sleepUntil('nap', new Date(until))
    return step.run('after', () => 1)
  },
})

const wallClock = () => performance.timeOrigin + performance.now()

export async function wakeLateness(runs: number, concurrency: number): Promise<void> {
  const bench = await openBench()
  try {
    const durably = bench.open({ concurrency }).register({ nap: napJob })
    await durably.migrate()

    const asleep = new Set<string>()
    const resumedAt = new Map<string, number>()
    const afterStepAt = new Map<string, number>()
    let lastAsleepAt = 0
    let lastCompletedAt = 0
    let completed = 0
    let failures = 0
    let allAsleep!: () => void
    const everyoneAsleep = new Promise<void>((resolve) => {
      allAsleep = resolve
    })
    let allDone!: () => void
    const everyoneDone = new Promise<void>((resolve) => {
      allDone = resolve
    })
    durably.on('run:wait', (event) => {
      asleep.add(event.runId)
      lastAsleepAt = wallClock()
      if (asleep.size === runs) allAsleep()
    })
    durably.on('run:start', (event) => {
      // The first start of a run is its first execution; a start after it slept is the wake-up.
      if (asleep.has(event.runId) && !resumedAt.has(event.runId)) {
        resumedAt.set(event.runId, wallClock())
      }
    })
    durably.on('step:start', (event) => {
      if (event.stepName === 'after') afterStepAt.set(event.runId, wallClock())
    })
    durably.on('run:complete', () => {
      lastCompletedAt = wallClock()
      if (++completed === runs) allDone()
    })
    durably.on('run:fail', (event) => {
      failures++
      console.error(`[bench] wake-lateness: run ${event.runId} failed: ${event.error}`)
    })

    // Generous enough that every run is asleep well before T on a loaded two-core machine
    // (the margin actually left is reported), plus 337 ms so T is not on a polling tick.
    const started = wallClock()
    const wakeAt = Math.ceil(started + 2_337 + runs * 4)
    durably.start()
    await durably.jobs.nap.batchTrigger(Array.from({ length: runs }, () => ({ until: wakeAt })))
    await everyoneAsleep
    const asleepMargin = wakeAt - lastAsleepAt
    console.error(
      `[bench] wake-lateness c=${concurrency}: ${runs} runs asleep, ${Math.round(asleepMargin)} ms before T`,
    )
    if (asleepMargin < 500) {
      console.error('[bench] wake-lateness: warning: the last run went to sleep close to T')
    }
    await everyoneDone
    await durably.destroy()
    if (failures > 0 || resumedAt.size !== runs || afterStepAt.size !== runs) {
      throw new Error(
        `wake-lateness: ${failures} failed, ${resumedAt.size} resumed, ${afterStepAt.size} reached the step after the sleep (of ${runs})`,
      )
    }

    const resume = [...resumedAt.values()].map((at) => at - wakeAt)
    const step = [...afterStepAt.values()].map((at) => at - wakeAt)
    const early = resume.filter((lateness) => lateness < 0).length
    const resumeStats = summarize(resume)
    const stepStats = summarize(step)
    report({
      workload: 'wake-lateness',
      description:
        'runs sleeping until one instant T (step.sleepUntil, then 1 step), worker defaults: run:start of the resumed execution - T',
      runs,
      concurrency,
      polling_interval_ms: 1000,
      asleep_margin_ms: Math.round(asleepMargin),
      first_ms: resumeStats.min,
      p50_ms: resumeStats.p50,
      p95_ms: resumeStats.p95,
      p99_ms: resumeStats.p99,
      max_ms: resumeStats.max,
      after_step_p50_ms: stepStats.p50,
      after_step_p99_ms: stepStats.p99,
      early_wakeups: early,
      last_complete_ms: round(lastCompletedAt - wakeAt),
      runs_per_s_after_t: Math.round((runs / (lastCompletedAt - wakeAt)) * 1000),
    })
  } finally {
    bench.cleanup()
  }
}
