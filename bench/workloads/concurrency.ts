/** I/O-bound jobs (each step awaits 10 ms): `concurrency: 8` against `concurrency: 1`. */
import { ioJob, openBench } from '../setup.js'
import { report, round } from '../stats.js'

async function runsPerSecond(runs: number, concurrency: number): Promise<number> {
  const bench = await openBench()
  try {
    const durably = bench.open({ concurrency }).register({ job: ioJob(10) })
    await durably.migrate()
    await durably.jobs.job.batchTrigger(Array.from({ length: runs }, (_, n) => ({ n })))
    let completed = 0
    const done = new Promise<void>((resolve) =>
      durably.on('run:complete', () => {
        if (++completed === runs) resolve()
      }),
    )
    const started = performance.now()
    durably.start()
    await done
    const elapsed = performance.now() - started
    await durably.destroy()
    return (runs / elapsed) * 1000
  } finally {
    bench.cleanup()
  }
}

export async function concurrency(runs: number): Promise<void> {
  const one = await runsPerSecond(runs, 1)
  const eight = await runsPerSecond(runs, 8)
  report({
    workload: 'concurrency',
    description: '3 steps of 10 ms I/O each; runs/s with concurrency 1 and 8',
    runs,
    concurrency_1_runs_per_s: round(one, 1),
    concurrency_8_runs_per_s: round(eight, 1),
    ratio: round(eight / one, 2),
  })
}
