/** N runs of a 3-step job: all triggered (one batchTrigger), time to the last completion. */
import { openBench, threeStepJob } from '../setup.js'
import { report, round } from '../stats.js'
import type { Floor } from './floor.js'

export async function throughput(runs: number, floor: Floor): Promise<void> {
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
    const cpu = process.cpuUsage()
    const started = performance.now()
    await durably.jobs.job.batchTrigger(Array.from({ length: runs }, (_, n) => ({ n })))
    durably.start()
    await done
    const elapsed = performance.now() - started
    const used = process.cpuUsage(cpu)
    await durably.destroy()
    const runsPerSecond = (runs / elapsed) * 1000
    report({
      workload: 'throughput',
      description: '3-step runs, batchTrigger then worker with defaults, until the last completes',
      runs,
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
