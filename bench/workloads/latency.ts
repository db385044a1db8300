/** Trigger→completion of a 1-step job, one at a time, with the worker idle in this process. */
import { oneStepJob, openBench } from '../setup.js'
import { report, summarize } from '../stats.js'

export async function latency(samples: number): Promise<void> {
  const bench = await openBench()
  try {
    const durably = bench.open().register({ job: oneStepJob })
    await durably.init()
    const warmup = Math.min(50, samples)
    const durations: number[] = []
    for (let n = 0; n < warmup + samples; n++) {
      const started = performance.now()
      await durably.jobs.job.triggerAndWait({ n })
      if (n >= warmup) durations.push(performance.now() - started)
    }
    await durably.destroy()
    const { p50, p95, p99 } = summarize(durations)
    report({
      workload: 'latency',
      description: 'triggerAndWait of a 1-step job, sequential, idle worker in the same process',
      samples,
      p50_ms: p50,
      p95_ms: p95,
      p99_ms: p99,
    })
  } finally {
    bench.cleanup()
  }
}
