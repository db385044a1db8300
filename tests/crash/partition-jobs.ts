/**
 * The job the partition scenarios run (tests/crash/partition.test.ts): the four steps of the
 * crash suite's `work`, journaled the same way (`begin`, `end`, `returned`), with durations
 * given by each run's input, so one run can hold its first step open across a partition in
 * one process while the process that takes it over runs it quickly. A step body honours its signal, as a long one should: when the lease is
 * found lost, it stops waiting (noted as `step-aborted`, with no `end` in the journal).
 */
import { z } from 'zod'
import { defineJob } from '../../src/index.js'
import { STEP_NAMES } from './jobs.js'
import type { Journal } from './journal.js'

/** The partition workers' lease settings: the scenarios are timed against these. */
export const PARTITION_OPTIONS = {
  pollingInterval: 100,
  heartbeatInterval: 200,
  staleThreshold: 2000,
} as const

/** A pause that ends early, rejecting, when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
}

export function partitionJobs(
  journal: Journal,
  note: (entry: Record<string, unknown>) => void = () => {},
) {
  const hold = defineJob({
    name: 'hold',
    // Each step's body takes `stepMs`, but the first one takes `holdMs` in process `holdPid`.
    input: z.object({
      n: z.number(),
      stepMs: z.number(),
      holdPid: z.number().optional(),
      holdMs: z.number().optional(),
    }),
    run: async (step, { n, stepMs, holdPid, holdMs }) => {
      let value = n
      for (const [index, name] of STEP_NAMES.entries()) {
        const result = await step.run(name, async (signal) => {
          journal.write({ ev: 'begin', run: step.runId, step: name })
          try {
            const held = index === 0 && holdPid === process.pid
            await pause(held ? (holdMs ?? stepMs) : stepMs, signal)
          } catch (error) {
            const reason = (error as Error)?.name ?? String(error)
            note({ ev: 'step-aborted', run: step.runId, step: name, reason })
            throw error
          }
          journal.write({ ev: 'end', run: step.runId, step: name })
          return { value: value + 1, pid: process.pid }
        })
        value = result.value
        journal.write({ ev: 'returned', run: step.runId, step: name })
      }
      return { value }
    },
  })
  return { hold }
}
