/** RSS while processing many runs: it must stay flat (no per-run state kept). */
import { oneStepJob, openBench } from '../setup.js'
import { report, round } from '../stats.js'

const mb = (bytes: number) => round(bytes / 1024 / 1024, 1)

function sample() {
  globalThis.gc?.()
  const { rss, heapUsed } = process.memoryUsage()
  return { rss: mb(rss), heap: mb(heapUsed) }
}

export async function memory(runs: number): Promise<void> {
  const bench = await openBench()
  try {
    const durably = bench.open().register({ job: oneStepJob })
    await durably.migrate()
    const chunk = 10_000
    const start = sample()
    let afterFirstChunk = start
    const started = performance.now()
    durably.start()
    for (let done = 0; done < runs; done += chunk) {
      const size = Math.min(chunk, runs - done)
      let completed = 0
      const finished = new Promise<void>((resolve) => {
        const off = durably.on('run:complete', () => {
          if (++completed === size) {
            off()
            resolve()
          }
        })
      })
      await durably.jobs.job.batchTrigger(Array.from({ length: size }, (_, n) => ({ n })))
      await finished
      if (done === 0) afterFirstChunk = sample()
    }
    const seconds = (performance.now() - started) / 1000
    const end = sample()
    await durably.destroy()
    report({
      workload: 'memory',
      description: `${runs} 1-step runs in chunks of ${chunk}; RSS and JS heap after gc`,
      runs,
      rss_start_mb: start.rss,
      rss_after_first_chunk_mb: afterFirstChunk.rss,
      rss_end_mb: end.rss,
      heap_start_mb: start.heap,
      heap_after_first_chunk_mb: afterFirstChunk.heap,
      heap_end_mb: end.heap,
      gc_exposed: typeof globalThis.gc === 'function',
      seconds: round(seconds, 1),
    })
  } finally {
    bench.cleanup()
  }
}
