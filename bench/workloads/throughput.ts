/** N runs of a 3-step job: all triggered (one batchTrigger), time to the last completion. */
import { drainThreeStepRuns, openBench, threeStepJob } from '../setup.js'
import { report, round } from '../stats.js'
import type { Floor } from './floor.js'

export async function throughput(runs: number, floor: Floor): Promise<void> {
  const bench = await openBench()
  try {
    const durably = bench.open().register({ job: threeStepJob })
    await durably.migrate()
    const { elapsedMs: elapsed, cpuUs } = await drainThreeStepRuns(durably, durably.jobs.job, runs)
    await durably.destroy()
    const runsPerSecond = (runs / elapsed) * 1000
    report({
      workload: 'throughput',
      description: '3-step runs, batchTrigger then worker with defaults, until the last completes',
      runs,
      ms_per_run: round(elapsed / runs),
      runs_per_s: Math.round(runsPerSecond),
      cpu_us_per_run: Math.round(cpuUs / runs),
      floor_runs_per_s: Math.round(floor.runsPerSecond),
      ratio_to_floor: round(runsPerSecond / floor.runsPerSecond, 2),
    })
  } finally {
    bench.cleanup()
  }
}
