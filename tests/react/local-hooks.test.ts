// @vitest-environment jsdom
/**
 * The same hooks over an instance in the page (as a SQLocal app uses them), here a real
 * libSQL instance: `createDurablyHooks({ durably })` calls it and listens to its events.
 */
import { act, cleanup, configure, renderHook, waitFor } from '@testing-library/react'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createDurablyHooks,
  DurablyClientError,
  type DurablyHooks,
  type LocalDurably,
} from '../../src/react/index.js'
import { waitUntil } from '../support/wait.js'
import { openDurably } from './support.js'

configure({ asyncUtilTimeout: 10_000 })

type Opened = Awaited<ReturnType<typeof openDurably>>

describe('durably/react over a local instance', () => {
  let opened: Opened
  let hooks: DurablyHooks<Opened['durably']['jobs']>

  beforeEach(async () => {
    opened = await openDurably()
    hooks = createDurablyHooks({ durably: opened.durably })
  })
  afterEach(async () => {
    cleanup()
    await opened.close()
  })

  it('useJob triggers a run and follows it to its output, with progress on the way', async () => {
    const { result } = renderHook(() => hooks.useJob('report'))
    await act(() => result.current.trigger({ parts: 2 }))
    await waitFor(() => expect(result.current.status).toBe('running'))
    opened.pacer.release()
    await waitFor(() => expect(result.current.progress?.current).toBe(1))
    opened.pacer.release()
    await waitFor(() => expect(result.current.status).toBe('completed'))
    expect(result.current.output).toEqual({ parts: 2 })
  })

  it('useJob surfaces an unknown job name as a NOT_FOUND requestError', async () => {
    const local: LocalDurably = opened.durably
    const untyped: DurablyHooks = createDurablyHooks({ durably: local })
    const { result } = renderHook(() => untyped.useJob('no-such-job'))
    await act(async () => {
      await result.current.trigger({}).catch(() => undefined)
    })
    expect(result.current.requestError).toBeInstanceOf(DurablyClientError)
    expect(result.current.requestError).toMatchObject({ code: 'NOT_FOUND', status: null })
  })

  it('useJob surfaces input the schema refuses as a VALIDATION requestError with its issues', async () => {
    const { result } = renderHook(() => hooks.useJob('report'))
    await act(async () => {
      await result.current.trigger({ parts: 0 }).catch(() => undefined)
    })
    expect(result.current.requestError?.code).toBe('VALIDATION')
    expect(result.current.requestError?.issues[0]?.path).toEqual(['parts'])
  })

  it('triggerAndWait resolves with the output', async () => {
    const { result } = renderHook(() => hooks.useJob('greet'))
    let output: { greeting: string } | undefined
    await act(async () => {
      ;({ output } = await result.current.triggerAndWait({ name: 'Ada' }))
    })
    expect(output).toEqual({ greeting: 'Hello, Ada!' })
  })

  it('useRun shows a failed run and why', async () => {
    const run = await opened.durably.jobs.failing.trigger({})
    const { result } = renderHook(() => hooks.useRun(run.id))
    await waitFor(() => expect(result.current.status).toBe('failed'))
    expect(result.current.error).toContain('boom')
  })

  it('useRun surfaces an unknown run id as a NOT_FOUND requestError', async () => {
    const { result } = renderHook(() => hooks.useRun('no-such-run'))
    await waitFor(() => expect(result.current.requestError?.code).toBe('NOT_FOUND'))
  })

  it('useRun stops listening to the instance on unmount', async () => {
    const baseline = opened.durably.listenerCount()
    const run = await opened.durably.jobs.report.trigger({ parts: 1 })
    const { result, unmount } = renderHook(() => hooks.useRun(run.id))
    await waitFor(() => expect(result.current.status).toBe('running'))
    expect(opened.durably.listenerCount()).toBeGreaterThan(baseline)
    unmount()
    await waitUntil(() => opened.durably.listenerCount() === baseline, {
      what: 'the listeners to be removed',
    })
  })

  it('useRuns adds a run triggered later and shows it complete', async () => {
    const { result } = renderHook(() => hooks.useRuns({ jobName: 'greet' }))
    await waitFor(() => expect(result.current.isLoading).toBe(false))
    expect(result.current.runs).toEqual([])
    const { id } = await opened.durably.jobs.greet.triggerAndWait({ name: 'x' })
    await waitFor(() => expect(result.current.runs).toMatchObject([{ id, status: 'completed' }]))
  })

  it('useRuns removes its event listeners on unmount', async () => {
    const baseline = opened.durably.listenerCount()
    const { unmount } = renderHook(() => hooks.useRuns())
    expect(opened.durably.listenerCount()).toBeGreaterThan(baseline)
    unmount()
    expect(opened.durably.listenerCount()).toBe(baseline)
  })

  it('useRunActions cancels a pending run', async () => {
    const { id } = await opened.durably.jobs.report.trigger({ parts: 1 }, { delay: 60_000 })
    const { result } = renderHook(() => hooks.useRunActions())
    await act(() => result.current.cancel(id))
    expect((await opened.durably.getRun(id))?.status).toBe('cancelled')
  })

  it('useRunActions retries a cancelled run, which runs again', async () => {
    const { id } = await opened.durably.jobs.report.trigger({ parts: 1 }, { delay: 60_000 })
    await opened.durably.cancel(id)
    const { result } = renderHook(() => hooks.useRunActions())
    await act(() => result.current.retry(id))
    expect(['pending', 'running']).toContain((await opened.durably.getRun(id))?.status)
  })

  it('useRunActions deletes a finished run', async () => {
    const { id } = await opened.durably.jobs.greet.triggerAndWait({ name: 'x' })
    const { result } = renderHook(() => hooks.useRunActions())
    await act(() => result.current.deleteRun(id))
    expect(await opened.durably.getRun(id)).toBeNull()
  })

  it('useRunActions rejects with the instance error code when an action is refused', async () => {
    const { result } = renderHook(() => hooks.useRunActions())
    await expect(result.current.retry('no-such-run')).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })
})
