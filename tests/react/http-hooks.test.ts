// @vitest-environment jsdom
/**
 * The hooks over HTTP, in a DOM, against the real handler on a loopback socket over a libSQL
 * file: no mock of the database or of fetch. Each test drives the run's steps itself.
 */
import { act, cleanup, configure, renderHook, waitFor } from '@testing-library/react'
import { createElement, StrictMode } from 'react'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createDurablyHooks, DurablyClientError, type DurablyHooks } from '../../src/react/index.js'
import { waitUntil } from '../support/wait.js'
import { type HooksServer, type Jobs, startHooksServer } from './support.js'

configure({ asyncUtilTimeout: 10_000 })

describe('durably/react over HTTP', () => {
  let server: HooksServer
  let hooks: DurablyHooks<Jobs>

  beforeEach(async () => {
    server = await startHooksServer()
    hooks = createDurablyHooks<Jobs>({ api: server.api })
  })
  afterEach(async () => {
    cleanup()
    await server.close()
  })

  describe('useJob', () => {
    it('is idle before anything is triggered', () => {
      const { result } = renderHook(() => hooks.useJob('report'))
      expect(result.current).toMatchObject({
        runId: null,
        status: null,
        progress: null,
        output: null,
        error: null,
        logs: [],
        isRunning: false,
        requestError: null,
      })
    })

    it('triggers a run and follows it: running, then progress and logs, then the output', async () => {
      const { result } = renderHook(() => hooks.useJob('report'))
      let runId = ''
      await act(async () => {
        ;({ runId } = await result.current.trigger({ parts: 2 }))
      })
      expect(result.current.runId).toBe(runId)
      expect(result.current.isRunning).toBe(true)
      await waitFor(() => expect(result.current.status).toBe('running'))

      server.pacer.release()
      await waitFor(() =>
        expect(result.current.progress).toEqual({ current: 1, total: 2, message: 'part 1 of 2' }),
      )
      expect(result.current.logs.map((log) => log.message)).toEqual(['part 1 done'])

      server.pacer.release()
      await waitFor(() => expect(result.current.status).toBe('completed'))
      expect(result.current.output).toEqual({ parts: 2 })
      expect(result.current.isRunning).toBe(false)
      expect(result.current.isTerminal).toBe(true)
    })

    it('shows why a run failed in error', async () => {
      const { result } = renderHook(() => hooks.useJob('failing'))
      await act(() => result.current.trigger({}))
      await waitFor(() => expect(result.current.status).toBe('failed'))
      expect(result.current.error).toContain('boom')
      expect(result.current.requestError).toBeNull()
    })

    it('triggerAndWait resolves with the run id and its output', async () => {
      const { result } = renderHook(() => hooks.useJob('greet'))
      let settled: { runId: string; output: { greeting: string } } | undefined
      await act(async () => {
        settled = await result.current.triggerAndWait({ name: 'Ada' })
      })
      expect(settled?.output).toEqual({ greeting: 'Hello, Ada!' })
      expect(settled?.runId).toBe(result.current.runId)
    })

    it('triggerAndWait rejects with code RUN_FAILED and the run error when the run fails', async () => {
      const { result } = renderHook(() => hooks.useJob('failing'))
      let failure: unknown
      await act(async () => {
        await result.current.triggerAndWait({}).catch((error: unknown) => {
          failure = error
        })
      })
      expect(failure).toBeInstanceOf(DurablyClientError)
      expect(failure).toMatchObject({
        code: 'RUN_FAILED',
        message: expect.stringContaining('boom'),
      })
    })

    it('surfaces an unknown job name as a 404 requestError and renders on', async () => {
      const unknown: DurablyHooks = createDurablyHooks({ api: server.api })
      const { result } = renderHook(() => unknown.useJob('no-such-job'))
      let rejection: unknown
      await act(async () => {
        await result.current.trigger({}).catch((error: unknown) => {
          rejection = error
        })
      })
      expect(rejection).toBeInstanceOf(DurablyClientError)
      expect(result.current.requestError).toMatchObject({
        status: 404,
        message: 'Job not found: no-such-job',
      })
      expect(result.current.runId).toBeNull()
      expect(result.current.isRunning).toBe(false)
    })

    it('surfaces input the job schema refuses as a 400 requestError with its issues', async () => {
      const { result } = renderHook(() => hooks.useJob('report'))
      await act(async () => {
        await result.current.trigger({ parts: -1 }).catch(() => undefined)
      })
      expect(result.current.requestError?.status).toBe(400)
      expect(result.current.requestError?.issues[0]?.path).toEqual(['parts'])
    })

    it('surfaces a server that cannot be reached as a requestError without a status', async () => {
      const offline = createDurablyHooks<Jobs>({ api: 'http://127.0.0.1:9/api/durably' })
      const { result } = renderHook(() => offline.useJob('greet'))
      await act(async () => {
        await result.current.trigger({ name: 'x' }).catch(() => undefined)
      })
      expect(result.current.requestError).toBeInstanceOf(DurablyClientError)
      expect(result.current.requestError?.status).toBeNull()
    })

    it('reset forgets the run it followed', async () => {
      const { result } = renderHook(() => hooks.useJob('greet'))
      await act(() => result.current.triggerAndWait({ name: 'Lin' }))
      act(() => result.current.reset())
      expect(result.current).toMatchObject({ runId: null, status: null, output: null })
    })
  })

  describe('useRun', () => {
    it('follows a run triggered elsewhere from its current state to its output', async () => {
      const run = await server.durably.jobs.report.trigger({ parts: 1 })
      const { result } = renderHook(() => hooks.useRun<'report'>(run.id))
      expect(result.current.isLoading).toBe(true)
      await waitFor(() => expect(result.current.run?.id).toBe(run.id))
      server.pacer.release()
      await waitFor(() => expect(result.current.status).toBe('completed'))
      expect(result.current.output).toEqual({ parts: 1 })
    })

    it('shows a run that settled before the page asked', async () => {
      const { id } = await server.durably.jobs.greet.triggerAndWait({ name: 'Bo' })
      const { result } = renderHook(() => hooks.useRun(id))
      await waitFor(() => expect(result.current.status).toBe('completed'))
      expect(result.current.output).toEqual({ greeting: 'Hello, Bo!' })
    })

    it('surfaces an unknown run id as a 404 requestError', async () => {
      const { result } = renderHook(() => hooks.useRun('no-such-run'))
      await waitFor(() => expect(result.current.requestError?.status).toBe(404))
      expect(result.current.isLoading).toBe(false)
      expect(result.current.run).toBeNull()
    })

    it('follows nothing and fetches nothing without a run id', () => {
      const { result } = renderHook(() => hooks.useRun(null))
      expect(result.current).toMatchObject({ run: null, status: null, isLoading: false })
      expect(server.requests).toEqual([])
    })

    it('shares one stream among the components following the same run', async () => {
      const run = await server.durably.jobs.report.trigger({ parts: 1 })
      const { result } = renderHook(() => [hooks.useRun(run.id), hooks.useRun(run.id)] as const)
      await waitFor(() => expect(result.current[1].status).toBe('running'))
      server.pacer.release()
      await waitFor(() => expect(result.current[0].status).toBe('completed'))
      expect(result.current[1].status).toBe('completed')
      expect(server.requestsTo('/subscribe')).toHaveLength(1)
    })

    it('closes its stream on unmount, so the server drops its listeners', async () => {
      const baseline = server.durably.listenerCount()
      const run = await server.durably.jobs.report.trigger({ parts: 1 })
      const { result, unmount } = renderHook(() => hooks.useRun(run.id), {
        wrapper: ({ children }) => createElement(StrictMode, null, children),
      })
      await waitFor(() => expect(result.current.status).toBe('running'))
      expect(server.durably.listenerCount()).toBeGreaterThan(baseline)
      unmount()
      await waitUntil(() => server.durably.listenerCount() === baseline, {
        what: 'the subscription to be released',
      })
    })
  })

  describe('useRuns', () => {
    it('lists runs newest first and adds a run triggered later through the SSE stream', async () => {
      const first = await server.durably.jobs.greet.triggerAndWait({ name: 'one' })
      const { result } = renderHook(() => hooks.useRuns())
      await waitFor(() => expect(result.current.runs.map((run) => run.id)).toEqual([first.id]))
      const second = await server.durably.jobs.report.trigger({ parts: 1 })
      await waitFor(() =>
        expect(result.current.runs.map((run) => run.id)).toEqual([second.id, first.id]),
      )
    })

    it('brings a listed run forward as it progresses and completes', async () => {
      const run = await server.durably.jobs.report.trigger({ parts: 2 })
      const { result } = renderHook(() => hooks.useRuns({ jobName: 'report' }))
      await waitFor(() => expect(result.current.runs[0]?.status).toBe('running'))
      server.pacer.release()
      await waitFor(() => expect(result.current.runs[0]?.progress?.current).toBe(1))
      server.pacer.release()
      await waitFor(() =>
        expect(result.current.runs[0]).toMatchObject({ id: run.id, status: 'completed' }),
      )
    })

    it('keeps to its filter: job name, status and limit', async () => {
      await server.durably.jobs.greet.triggerAndWait({ name: 'a' })
      await server.durably.jobs.greet.triggerAndWait({ name: 'b' })
      const failed = await server.durably.jobs.failing.trigger({})
      const { result } = renderHook(() =>
        hooks.useRuns({ jobName: 'greet', status: 'completed', limit: 1 }),
      )
      await waitFor(() => expect(result.current.isLoading).toBe(false))
      expect(result.current.runs).toHaveLength(1)
      expect(result.current.runs[0]?.jobName).toBe('greet')
      expect(result.current.runs.some((run) => run.id === failed.id)).toBe(false)
    })

    it('surfaces a filter the server refuses as a 400 requestError', async () => {
      const { result } = renderHook(() => hooks.useRuns({ limit: -1 }))
      await waitFor(() => expect(result.current.requestError?.status).toBe(400))
    })
  })

  describe('useRunActions', () => {
    it('cancels a pending run', async () => {
      const { id } = await server.durably.jobs.report.trigger({ parts: 1 }, { delay: 60_000 })
      const { result } = renderHook(() => hooks.useRunActions())
      await act(() => result.current.cancel(id))
      expect((await server.durably.getRun(id))?.status).toBe('cancelled')
    })

    it('retries a failed run', async () => {
      const { id } = await server.durably.jobs.failing.trigger({})
      await waitUntil(async () => (await server.durably.getRun(id))?.status === 'failed')
      const { result } = renderHook(() => hooks.useRunActions())
      await act(() => result.current.retry(id))
      expect(server.requestsTo('/retry')).toMatchObject([{ status: 200 }])
    })

    it('deletes a finished run', async () => {
      const { id } = await server.durably.jobs.greet.triggerAndWait({ name: 'x' })
      const { result } = renderHook(() => hooks.useRunActions())
      await act(() => result.current.deleteRun(id))
      expect(await server.durably.getRun(id)).toBeNull()
    })

    it('rejects with the server status when an action is refused', async () => {
      const { result } = renderHook(() => hooks.useRunActions())
      await expect(result.current.cancel('no-such-run')).rejects.toMatchObject({ status: 404 })
    })
  })

  describe('useSignal', () => {
    it('sends POST <api>/signal?runId= with { name, data, id } as JSON', async () => {
      const { result } = renderHook(() => hooks.useSignal('run-1', 'approval'))
      await act(async () => {
        // Whether the server has the route yet or not, the request is what this test checks.
        await result.current({ approved: true }, { id: 'delivery-7' }).catch(() => undefined)
      })
      const [sent] = server.requestsTo('/signal')
      expect(sent).toMatchObject({ method: 'POST', search: '?runId=run-1' })
      expect(JSON.parse(sent!.body!)).toEqual({
        name: 'approval',
        data: { approved: true },
        id: 'delivery-7',
      })
    })

    it('rejects without a request when there is no run id yet', async () => {
      const { result } = renderHook(() => hooks.useSignal(null, 'approval'))
      await expect(result.current({})).rejects.toBeInstanceOf(DurablyClientError)
      expect(server.requests).toEqual([])
    })
  })

  describe('options', () => {
    it('sends the headers option with every request, SSE streams included', async () => {
      let token = 0
      const authed = createDurablyHooks<Jobs>({
        api: server.api,
        headers: () => ({ authorization: `Bearer ${++token}` }),
      })
      const { result } = renderHook(() => authed.useJob('greet'))
      await act(() => result.current.triggerAndWait({ name: 'x' }))
      const seen = server.requests.filter((request) =>
        ['/trigger', '/subscribe'].includes(request.path),
      )
      expect(seen.length).toBeGreaterThanOrEqual(2)
      for (const request of seen) expect(request.authorization).toMatch(/^Bearer \d+$/)
    })

    it('surfaces a headers function that throws as a requestError', async () => {
      const broken = createDurablyHooks<Jobs>({
        api: server.api,
        headers: () => {
          throw new Error('no token yet')
        },
      })
      const { result } = renderHook(() => broken.useJob('greet'))
      await act(async () => {
        await result.current.trigger({ name: 'x' }).catch(() => undefined)
      })
      expect(result.current.requestError?.message).toContain('no token yet')
      expect(server.requests).toEqual([])
    })

    it('talks through the fetch option when one is given', async () => {
      const paths: string[] = []
      const traced = createDurablyHooks<Jobs>({
        api: server.api,
        fetch: (input, init) => {
          paths.push(new URL(String(input)).pathname)
          return fetch(input, init)
        },
      })
      const { result } = renderHook(() => traced.useJob('greet'))
      await act(() => result.current.triggerAndWait({ name: 'x' }))
      expect(paths).toContain('/api/durably/trigger')
      expect(paths).toContain('/api/durably/subscribe')
    })
  })
})
