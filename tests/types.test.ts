/**
 * Types flow from the job's zod schemas to the call sites with no casts. These assertions
 * are checked by `tsc` (npm run typecheck); at run time they only confirm the calls exist.
 */
import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { createDurably, defineJob, type JobHandle, type Run } from '../src/index.js'
import { libsqlBackend } from './support/backends.js'

const job = defineJob({
  name: 'typed',
  input: z.object({ orgId: z.string(), limit: z.number().default(10) }),
  output: z.object({ syncedCount: z.number() }),
  run: async (step, payload) => {
    expectTypeOf(payload).toEqualTypeOf<{ orgId: string; limit: number }>()
    const users = await step.run('fetch', () => ['a', 'b'])
    expectTypeOf(users).toEqualTypeOf<string[]>()
    // What replay returns is the JSON form: a Date is its ISO string.
    const started = await step.run('now', () => new Date())
    expectTypeOf(started).toEqualTypeOf<string>()
    // @ts-expect-error: a string has no getTime; the compiler says so before a run fails
    started.getTime
    const nested = await step.run('nested', () => ({ at: new Date(), n: 1, skip: () => 1 }))
    expectTypeOf(nested).toEqualTypeOf<{ at: string; n: number }>()
    return { syncedCount: users.length }
  },
})

describe('types', () => {
  it('carry the input, payload and output types from the schemas to the handles', async () => {
    const database = await libsqlBackend.create()
    try {
      const durably = createDurably({ dialect: database.dialect })
      const registered = durably.register({ typed: job })
      const { typed } = registered
      expectTypeOf(typed).toEqualTypeOf<
        JobHandle<'typed', { orgId: string; limit?: number }, { syncedCount: number }>
      >()
      expectTypeOf(registered.jobs.typed).toEqualTypeOf(typed)
      expectTypeOf(typed.trigger).parameter(0).toEqualTypeOf<{ orgId: string; limit?: number }>()
      const run = await typed.trigger({ orgId: 'o' })
      expectTypeOf(run).toEqualTypeOf<Run<{ syncedCount: number }>>()
      expectTypeOf(typed.triggerAndWait).returns.resolves.toEqualTypeOf<{
        id: string
        output: { syncedCount: number }
      }>()
      // @ts-expect-error: orgId must be a string
      await typed.trigger({ orgId: 1 }).catch(() => undefined)
      await durably.stop()
    } finally {
      await database.cleanup()
    }
  })
})
