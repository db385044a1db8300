/** One run of many steps: the cost of a step, against one raw write of a step row. */
import { manyStepsJob, openBench } from '../setup.js'
import { report, round } from '../stats.js'
import type { Floor } from './floor.js'

export async function perStep(steps: number, floor: Floor): Promise<void> {
  const bench = await openBench()
  try {
    const durably = bench.open().register({ job: manyStepsJob(steps) })
    await durably.migrate()
    const run = await durably.jobs.job.trigger({})
    let started = 0
    let cpu = process.cpuUsage()
    durably.on('run:start', () => {
      started = performance.now()
      cpu = process.cpuUsage()
    })
    let used = cpu
    const finished = new Promise<number>((resolve) =>
      durably.on('run:complete', () => {
        used = process.cpuUsage(cpu)
        resolve(performance.now())
      }),
    )
    durably.start()
    const elapsed = (await finished) - started
    await durably.destroy()
    if ((await bench.raw.execute('SELECT count(*) AS n FROM durably_steps')).rows[0]?.n !== steps) {
      throw new Error(`expected ${steps} step rows for run ${run.id}`)
    }
    const msPerStep = elapsed / steps
    report({
      workload: 'per-step',
      description: `one run of ${steps} steps, run:start to run:complete`,
      steps,
      ms_per_step: round(msPerStep, 4),
      cpu_us_per_step: Math.round((used.user + used.system) / steps),
      raw_write_ms: round(floor.rawWriteMs, 4),
      ratio_to_raw_write: round(msPerStep / floor.rawWriteMs, 2),
    })
  } finally {
    bench.cleanup()
  }
}
