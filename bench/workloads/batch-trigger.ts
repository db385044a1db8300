/** batchTrigger of many inputs: one validated, atomic insert. */
import { oneStepJob, openBench } from '../setup.js'
import { report, round, timed } from '../stats.js'

export async function batchTrigger(items: number): Promise<void> {
  const bench = await openBench()
  try {
    const durably = bench.open().register({ job: oneStepJob })
    await durably.migrate()
    const inputs = Array.from({ length: items }, (_, n) => ({ n }))
    const [runs, elapsed] = await timed(() => durably.jobs.job.batchTrigger(inputs))
    if (runs.length !== items) throw new Error(`stored ${runs.length} of ${items}`)
    await durably.destroy()
    report({
      workload: 'batch-trigger',
      description: 'batchTrigger(inputs): validate all, insert all in one statement',
      items,
      total_ms: round(elapsed, 1),
      us_per_item: round((elapsed / items) * 1000, 2),
    })
  } finally {
    bench.cleanup()
  }
}
