/**
 * What every workload starts from: a fresh libSQL file, a durably instance with the
 * library's defaults (plus the given options), and a raw client on the same file with the
 * same pragmas, for the floor.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Client, createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { z } from 'zod'
import { createDurably, type DurablyOptions, defineJob } from '../src/index.js'

export const threeStepJob = defineJob({
  name: 'three-steps',
  input: z.object({ n: z.number() }),
  run: async (step, { n }) => {
    const a = await step.run('a', () => n + 1)
    const b = await step.run('b', () => a + 1)
    return step.run('c', () => b + 1)
  },
})

export const oneStepJob = defineJob({
  name: 'one-step',
  input: z.object({ n: z.number() }),
  run: async (step, { n }) => step.run('only', () => n),
})

export function manyStepsJob(steps: number) {
  return defineJob({
    name: 'many-steps',
    input: z.object({}),
    run: async (step) => {
      let total = 0
      for (let index = 0; index < steps; index++) total = await step.run('step', () => total + 1)
      return total
    },
  })
}

export function ioJob(ioMs: number) {
  const wait = () => new Promise<number>((resolve) => setTimeout(() => resolve(1), ioMs))
  return defineJob({
    name: 'io-bound',
    input: z.object({ n: z.number() }),
    run: async (step) => {
      await step.run('fetch', wait)
      await step.run('call', wait)
      await step.run('store', wait)
      return null
    },
  })
}

export interface Bench {
  url: string
  dialect: LibsqlDialect
  raw: Client
  open(options?: Partial<DurablyOptions>): ReturnType<typeof createDurably>
  cleanup(): void
}

export async function openBench(): Promise<Bench> {
  const dir = mkdtempSync(join(tmpdir(), 'durably-bench-'))
  const url = `file:${join(dir, 'bench.db')}`
  const raw = createClient({ url })
  // The pragmas durably applies to its own connection (see store/sqlite-family.ts).
  await raw.execute('PRAGMA journal_mode = WAL')
  await raw.execute('PRAGMA synchronous = NORMAL')
  await raw.execute('PRAGMA busy_timeout = 1000')
  const clients: Client[] = [raw]
  return {
    url,
    raw,
    dialect: new LibsqlDialect({ client: raw }),
    open(options = {}) {
      const client = createClient({ url })
      clients.push(client)
      return createDurably({ dialect: new LibsqlDialect({ client }), ...options })
    },
    cleanup() {
      for (const client of clients) client.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * `runs` runs of the 3-step job: triggered in one batchTrigger, then the worker started;
 * resolves at the last completion with the time and CPU it took.
 */
export async function drainThreeStepRuns(
  durably: ReturnType<typeof createDurably>,
  job: { batchTrigger(inputs: { n: number }[]): Promise<unknown> },
  runs: number,
): Promise<{ elapsedMs: number; cpuUs: number }> {
  let completed = 0
  const done = new Promise<void>((resolve) =>
    durably.on('run:complete', () => {
      if (++completed === runs) resolve()
    }),
  )
  const cpu = process.cpuUsage()
  const started = performance.now()
  await job.batchTrigger(Array.from({ length: runs }, (_, n) => ({ n })))
  durably.start()
  await done
  const elapsedMs = performance.now() - started
  const used = process.cpuUsage(cpu)
  return { elapsedMs, cpuUs: used.user + used.system }
}
