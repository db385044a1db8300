// @vitest-environment jsdom
/**
 * useSignal end to end: a run waits durably for the signal "approval"; the page sends it and
 * the run completes with its data. Over an instance in the page (durably.signal) and over
 * HTTP (POST <api>/signal).
 */
import { act, cleanup, configure, renderHook, waitFor } from '@testing-library/react'
import { afterEach, describe, expect, it } from 'vitest'
import { createDurablyHooks, type DurablyHooks, type LocalDurably } from '../../src/react/index.js'
import { type HooksServer, openDurably, startHooksServer } from './support.js'

configure({ asyncUtilTimeout: 10_000 })

type Closeable = { close(): Promise<void> }

describe('useSignal completes a durable wait', () => {
  let opened: Closeable | undefined
  afterEach(async () => {
    cleanup()
    await opened?.close()
    opened = undefined
  })

  async function approveThrough(hooks: DurablyHooks, trigger: () => Promise<{ id: string }>) {
    const { id } = await trigger()
    const run = renderHook(() => hooks.useRun(id))
    // The run has handed its worker back and waits for the signal.
    await waitFor(() => expect(run.result.current.run?.waitingFor).not.toBeNull())
    const signal = renderHook(() => hooks.useSignal(id, 'approval'))
    await act(() => signal.result.current({ approvedBy: 'ada' }, { id: `approval-${id}` }))
    await waitFor(() => expect(run.result.current.status).toBe('completed'))
    return run.result.current.output
  }

  it('over a local instance, through durably.signal', async () => {
    const local = await openDurably()
    opened = local
    const durably: LocalDurably = local.durably
    const hooks = createDurablyHooks({ durably })
    const output = await approveThrough(hooks, () => local.durably.jobs.approval.trigger({}))
    expect(output).toEqual({ data: { approvedBy: 'ada' } })
  })

  it('over HTTP, through POST <api>/signal', async () => {
    const server: HooksServer = await startHooksServer()
    opened = server
    const hooks = createDurablyHooks({ api: server.api })
    const output = await approveThrough(hooks, () => server.durably.jobs.approval.trigger({}))
    expect(output).toEqual({ data: { approvedBy: 'ada' } })
  })
})
