/**
 * N runs of a 3-step job triggered one `await trigger()` at a time with the worker started in
 * the same process, then drained: time from the first trigger to the last completion, against
 * the floor (the way a host that triggers as requests arrive uses the library).
 */
import { openBench, threeStepJob } from '../setup.js'
import { report, round } from '../stats.js'
import type { Floor } from './floor.js'

export async function triggerLoop(runs: number, floor: Floor): Promise<void> {
  const bench = await openBench()
  try {
    const durably = bench.open().register({ job: threeStepJob })
    await durably.migrate()
    let completed = 0
    const done = new Promise<void>((resolve) =>
      durably.on('run:complete', () => {
        if (++completed === runs) resolve()
      }),
    )
    durably.start()
    const cpu = process.cpuUsage()
    const started = performance.now()
    for (let n = 0; n < runs; n++) await durably.jobs.job.trigger({ n })
    const triggered = performance.now() - started
    await done
    const elapsed = performance.now() - started
    const used = process.cpuUsage(cpu)
    await durably.destroy()
    const runsPerSecond = (runs / elapsed) * 1000
    report({
      workload: 'trigger',
      backend: 'libsql',
      description:
        '3-step runs, one await trigger() at a time, worker started, until the last completes',
      runs,
      trigger_ms: round(triggered, 1),
      ms_per_run: round(elapsed / runs),
      runs_per_s: Math.round(runsPerSecond),
      cpu_us_per_run: Math.round((used.user + used.system) / runs),
      floor_runs_per_s: Math.round(floor.runsPerSecond),
      ratio_to_floor: round(runsPerSecond / floor.runsPerSecond, 2),
    })
  } finally {
    bench.cleanup()
  }
}
