/**
 * `createDurablyHooks<typeof jobs>` types the hooks by the server's jobs, with no code
 * generation. These checks are for the compiler (tsc --noEmit runs over tests/); the hooks
 * are only named inside functions that never run, since hooks run only in components.
 */
import { describe, expect, expectTypeOf, it } from 'vitest'
import type { Run } from '../../src/index.js'
import {
  createDurablyHooks,
  type JobInput,
  type JobName,
  type JobOutput,
} from '../../src/react/index.js'
import type { Jobs, openDurably } from './support.js'

type Instance = Awaited<ReturnType<typeof openDurably>>['durably']

describe('durably/react types', () => {
  it('types job names, trigger input and output from the object given to register', () => {
    const hooks = createDurablyHooks<Jobs>({ api: '/api/durably' })
    const inComponent = () => {
      const job = hooks.useJob('report')
      expectTypeOf(job.trigger).parameter(0).toEqualTypeOf<{ parts: number }>()
      expectTypeOf(job.output).toEqualTypeOf<{ parts: number } | null>()
      expectTypeOf(job.triggerAndWait).returns.resolves.toEqualTypeOf<{
        runId: string
        output: { parts: number }
      }>()
      // @ts-expect-error: no job is named so
      hooks.useJob('no-such-job')
      // @ts-expect-error: the input schema wants a number
      void job.trigger({ parts: 'many' })
    }
    expect(typeof inComponent).toBe('function')
  })

  it('types the same from the registered handles or the instance itself', () => {
    expectTypeOf<JobName<Instance['jobs']>>().toEqualTypeOf<
      'report' | 'greet' | 'failing' | 'approval'
    >()
    expectTypeOf<JobName<Instance>>().toEqualTypeOf<'report' | 'greet' | 'failing' | 'approval'>()
    expectTypeOf<JobInput<Instance, 'greet'>>().toEqualTypeOf<{ name: string }>()
    expectTypeOf<JobOutput<Instance['jobs'], 'greet'>>().toEqualTypeOf<{ greeting: string }>()
  })

  it('types local hooks by the instance given', () => {
    const local = (durably: Instance) => createDurablyHooks({ durably })
    const inComponent = () => {
      const job = local(null as unknown as Instance).useJob('greet')
      expectTypeOf(job.trigger).parameter(0).toEqualTypeOf<{ name: string }>()
      expectTypeOf(job.output).toEqualTypeOf<{ greeting: string } | null>()
    }
    expect(typeof inComponent).toBe('function')
  })

  it('types useRuns output by its jobName and useRun by the job named', () => {
    const hooks = createDurablyHooks<Jobs>({ api: '/api/durably' })
    const inComponent = () => {
      expectTypeOf(hooks.useRuns({ jobName: 'greet' }).runs).toEqualTypeOf<
        Run<{ greeting: string }>[]
      >()
      expectTypeOf(hooks.useRun<'report'>('id').output).toEqualTypeOf<{ parts: number } | null>()
      // @ts-expect-error: no job is named so
      hooks.useRuns({ jobName: 'no-such-job' })
    }
    expect(typeof inComponent).toBe('function')
  })

  it('takes any job name, unknown input and unknown output when no jobs are given', () => {
    const hooks = createDurablyHooks({ api: '/api/durably' })
    const inComponent = () => {
      const job = hooks.useJob('anything')
      expectTypeOf(job.trigger).parameter(0).toEqualTypeOf<unknown>()
      expectTypeOf(job.output).toEqualTypeOf<unknown>()
    }
    expect(typeof inComponent).toBe('function')
  })
})
