// @vitest-environment jsdom
/**
 * The hooks' SSE client against the handler's streams when connections break: it reconnects
 * with the Last-Event-ID it saw, reads a run that settled meanwhile once (the handler answers
 * 204), reads a run list anew after a gap, and does not retry a refusal. The server's
 * `retry:` (3 s) is capped with `maxDelay` so these tests do not wait it out.
 */
import { cleanup, configure, renderHook, waitFor } from '@testing-library/react'
import { afterEach, describe, expect, it } from 'vitest'
import { createDurablyHooks, type DurablyHooks } from '../../src/react/index.js'
import { reconnectDelay } from '../../src/react/sse.js'
import { waitUntil } from '../support/wait.js'
import { type HooksServer, type Jobs, startHooksServer } from './support.js'

configure({ asyncUtilTimeout: 10_000 })

describe('SSE reconnection of the hooks', () => {
  let server: HooksServer | undefined
  afterEach(async () => {
    cleanup()
    await server?.close()
    server = undefined
  })

  async function open(options: Parameters<typeof startHooksServer>[0] = {}) {
    server = await startHooksServer(options)
    const hooks: DurablyHooks<Jobs> = createDurablyHooks<Jobs>({
      api: server.api,
      reconnect: { maxDelay: 20 },
    })
    return { server, hooks }
  }

  /** Follow a two-part run until its first part is done: events with ids have arrived. */
  async function followHalfway(server: HooksServer, hooks: DurablyHooks<Jobs>) {
    const run = await server.durably.jobs.report.trigger({ parts: 2 })
    const rendered = renderHook(() => hooks.useRun<'report'>(run.id))
    await waitFor(() => expect(rendered.result.current.status).toBe('running'))
    server.pacer.release()
    await waitFor(() => expect(rendered.result.current.progress?.current).toBe(1))
    return { run, result: rendered.result }
  }

  it('reconnects after its connection breaks, sending the Last-Event-ID it last saw', async () => {
    const { server, hooks } = await open()
    const { result } = await followHalfway(server, hooks)
    server.dropConnections()
    await waitUntil(() => server.requestsTo('/subscribe').length >= 2, {
      what: 'the stream to reconnect',
    })
    const [first, second] = server.requestsTo('/subscribe')
    expect(first?.lastEventId).toBeNull()
    expect(second?.lastEventId).toMatch(/^\d+$/)
    server.pacer.release()
    await waitFor(() => expect(result.current.status).toBe('completed'))
    expect(result.current.output).toEqual({ parts: 2 })
  })

  it('reads the run once when its reconnection is answered 204 because the run settled meanwhile', async () => {
    const { server, hooks } = await open()
    const { run, result } = await followHalfway(server, hooks)
    const letThrough = server.holdSubscriptions()
    server.dropConnections()
    server.pacer.release()
    await waitUntil(async () => (await server.durably.getRun(run.id))?.status === 'completed', {
      what: 'the run to complete while the stream is down',
    })
    letThrough()
    await waitFor(() => expect(result.current.status).toBe('completed'))
    expect(result.current.output).toEqual({ parts: 2 })
    expect(server.requestsTo('/subscribe').at(-1)?.status).toBe(204)
    expect(server.requestsTo('/run')).toHaveLength(1)
  })

  it('reads a run list again when its stream reconnects, showing runs triggered during the gap', async () => {
    const { server, hooks } = await open()
    const { result } = renderHook(() => hooks.useRuns())
    await waitFor(() => expect(server.requestsTo('/runs/subscribe')).toHaveLength(1))
    await waitFor(() => expect(result.current.isLoading).toBe(false))
    const letThrough = server.holdSubscriptions()
    server.dropConnections()
    const missed = await server.durably.jobs.greet.triggerAndWait({ name: 'gap' })
    expect(result.current.runs).toEqual([])
    letThrough()
    await waitFor(() => expect(result.current.runs.map((run) => run.id)).toEqual([missed.id]))
  })

  it('does not retry a stream the server refuses, and shows the refusal status', async () => {
    const { server, hooks } = await open({
      authorize: (_request, { action }) => action !== 'subscribe',
    })
    const run = await server.durably.jobs.greet.trigger({ name: 'x' })
    const { result } = renderHook(() => hooks.useRun(run.id))
    await waitFor(() => expect(result.current.requestError?.status).toBe(403))
    expect(server.requestsTo('/subscribe')).toHaveLength(1)
  })
})

describe('reconnectDelay', () => {
  const middle = () => 0.5

  it("waits what the server's retry: says before the first reconnection", () => {
    expect(reconnectDelay(0, 3000, {}, middle)).toBe(3000)
  })

  it('waits initialDelay when the server stated no retry:', () => {
    expect(reconnectDelay(0, undefined, { initialDelay: 250 }, middle)).toBe(250)
  })

  it('doubles the wait for each failed attempt in a row, up to maxDelay', () => {
    const waits = [0, 1, 2, 3, 4].map((attempt) =>
      reconnectDelay(attempt, 1000, { maxDelay: 8000 }, middle),
    )
    expect(waits).toEqual([1000, 2000, 4000, 8000, 8000])
  })

  it('spreads clients that lost the same server by at most 20 % either way', () => {
    expect(reconnectDelay(0, 1000, {}, () => 0)).toBe(800)
    expect(reconnectDelay(0, 1000, {}, () => 1)).toBe(1200)
  })
})
