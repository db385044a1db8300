/** Shared set-up for the contract suite: a fresh database and instance per test. */
import { z } from 'zod'
import { createDurably, type Durably, type DurablyOptions, defineJob } from '../../src/index.js'
import type { Backend, TestDatabase } from '../support/backends.js'

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
