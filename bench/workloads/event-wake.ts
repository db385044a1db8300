/**
 * sendEvent → resumed: beside `backlog` runs already waiting for the same event name (each
 * with its own `match`), a probe run waits for its own match; we time `sendEvent` itself and
 * the probe's `event:receive` (the resumed execution took the event) after the send began.
 * Run at a small and a large backlog: a send finds its waiters through the event-waits index,
 * so both figures should stay flat as the backlog grows.
 */
import { z } from 'zod'
import { defineJob } from '../../src/index.js'
import { openBench } from '../setup.js'
import { report, round, summarize } from '../stats.js'

const waiter = defineJob({
  name: 'waiter',
  input: z.object({ orderId: z.string() }),
  run: async (step, { orderId }) =>
    step.waitForEvent('paid', { event: 'order/paid', match: { orderId } }),
})

const wallClock = () => performance.timeOrigin + performance.now()

export async function eventWake(backlogs: readonly number[], samples: number): Promise<void> {
  const results: Record<number, { send: number; resume: number }> = {}
  for (const backlog of backlogs) {
    const bench = await openBench()
    try {
      const durably = bench.open({ concurrency: 8 }).register({ waiter })
      await durably.migrate()
      const waiting = new Set<string>()
      let arrived!: () => void
      let target = backlog
      let reached = new Promise<void>((resolve) => {
        arrived = resolve
      })
      durably.on('run:wait', (event) => {
        waiting.add(event.runId)
        if (waiting.size >= target) arrived()
      })
      durably.start()
      if (backlog > 0) {
        await durably.jobs.waiter.batchTrigger(
          Array.from({ length: backlog }, (_, i) => ({ orderId: `backlog-${i}` })),
        )
        await reached
      }
      const sends: number[] = []
      const resumes: number[] = []
      for (let i = 0; i < samples; i++) {
        target = waiting.size + 1
        reached = new Promise<void>((resolve) => {
          arrived = resolve
        })
        const probe = await durably.jobs.waiter.trigger({ orderId: `probe-${i}` })
        await reached
        const received = new Promise<number>((resolve) => {
          const off = durably.on('event:receive', (event) => {
            if (event.runId !== probe.id) return
            off()
            resolve(wallClock())
          })
        })
        const started = wallClock()
        await durably.sendEvent('order/paid', { orderId: `probe-${i}` })
        sends.push(wallClock() - started)
        resumes.push((await received) - started)
      }
      await durably.destroy()
      const send = summarize(sends)
      const resume = summarize(resumes)
      results[backlog] = { send: send.p50, resume: resume.p50 }
      report({
        workload: 'event-wake',
        description:
          'sendEvent beside `backlog` runs waiting for the same event name (other matches): the send, and event:receive of the probe after the send began',
        backend: 'libsql',
        backlog,
        samples,
        send_p50_ms: send.p50,
        send_p99_ms: send.p99,
        resume_p50_ms: resume.p50,
        resume_p99_ms: resume.p99,
      })
    } finally {
      bench.cleanup()
    }
  }
  const [small, large] = [backlogs[0]!, backlogs.at(-1)!]
  report({
    workload: 'event-wake-flatness',
    description: 'p50 at the largest backlog / p50 at the smallest (1.0 = flat)',
    backlogs: [small, large],
    send_ratio: round(results[large]!.send / results[small]!.send, 2),
    resume_ratio: round(results[large]!.resume / results[small]!.resume, 2),
  })
}
