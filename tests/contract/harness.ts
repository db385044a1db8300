/** Shared set-up for the contract suite: a fresh database and instance per test. */
import { z } from 'zod'
import { createDurably, type Durably, type DurablyOptions, defineJob } from '../../src/index.js'
import type { Backend, TestDatabase } from '../support/backends.js'
import { gate } from '../support/wait.js'

export const FAST = { pollingInterval: 20, heartbeatInterval: 40, staleThreshold: 400 } as const

export interface Harness {
  database: TestDatabase
  make(options?: Partial<DurablyOptions>, dialect?: DurablyOptions['dialect']): Durably
  cleanup(): Promise<void>
}

export async function openHarness(backend: Backend): Promise<Harness> {
  const database = await backend.create()
  const instances: Durably[] = []
  return {
    database,
    make(options = {}, dialect) {
      const durably = createDurably({
        ...FAST,
        ...options,
        dialect: dialect ?? options.dialect ?? database.dialect,
      })
      instances.push(durably)
      return durably
    },
    async cleanup() {
      await Promise.all(instances.map((durably) => durably.stop()))
      await database.cleanup()
    },
  }
}

export const echoJob = defineJob({
  name: 'echo',
  input: z.object({ value: z.string() }),
  output: z.object({ echoed: z.string() }),
  run: async (step, { value }) => {
    const echoed = await step.run('echo', () => value)
    return { echoed }
  },
})

/**
 * A two-step job whose first step waits for `held.open()`, so a test can act (stop, cancel)
 * while a run is mid-step; `seen` says what happened afterwards.
 */
export function heldJob(name: string) {
  const held = gate()
  const entered = gate()
  const seen = { firstAborted: false, secondRan: false }
  const job = defineJob({
    name,
    input: z.object({}),
    run: async (step) => {
      await step.run('first', async (signal) => {
        entered.open()
        await held.promise
        seen.firstAborted = signal.aborted
        return 'done'
      })
      await step.run('second', () => {
        seen.secondRan = true
      })
      return null
    },
  })
  return { job, held, entered, seen }
}
