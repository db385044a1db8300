import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { nextEvent, waitUntil } from '../support/wait.js'
import { readEvents, startServer, type TestServer } from './server.js'

describe('createDurablyHandler over node:http', () => {
  let server: TestServer
  beforeEach(async () => {
    server = await startServer()
  })
  afterEach(() => server.close())

  const post = (path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })

  const completedRun = async () => {
    const response = await post('/trigger', { jobName: 'echo', input: { value: 'hi' } })
    const { runId } = (await response.json()) as { runId: string }
    await waitUntil(async () => (await server.durably.getRun(runId))?.status === 'completed')
    return runId
  }

  it('POST /trigger stores a run and answers { runId }', async () => {
    const response = await post('/trigger', { jobName: 'echo', input: { value: 'hi' } })
    expect(response.status).toBe(200)
    const { runId } = (await response.json()) as { runId: string }
    expect(await server.durably.getRun(runId)).toMatchObject({ jobName: 'echo' })
  })

  it('POST /trigger passes idempotencyKey and concurrencyKey through', async () => {
    const body = {
      jobName: 'echo',
      input: { value: 'x' },
      idempotencyKey: 'k1',
      concurrencyKey: 'c',
    }
    const first = (await (await post('/trigger', body)).json()) as { runId: string }
    const second = (await (await post('/trigger', body)).json()) as { runId: string }
    expect(second.runId).toBe(first.runId)
    expect(await server.durably.getRun(first.runId)).toMatchObject({
      idempotencyKey: 'k1',
      concurrencyKey: 'c',
    })
  })

  it('GET /run answers the run as JSON', async () => {
    const runId = await completedRun()
    const run = await (await fetch(`${server.url}/run?runId=${runId}`)).json()
    expect(run).toMatchObject({ id: runId, status: 'completed', output: { echoed: 'hi' } })
  })

  it('GET /runs filters by jobName and status and pages with limit and offset', async () => {
    const ids = [await completedRun(), await completedRun(), await completedRun()]
    const runs = (await (
      await fetch(`${server.url}/runs?jobName=echo&status=completed&limit=2&offset=1`)
    ).json()) as { id: string }[]
    // Newest first: skip the newest, take the next two.
    expect(runs.map((run) => run.id)).toEqual([ids[1], ids[0]])
  })

  it('GET /steps answers the recorded steps', async () => {
    const runId = await completedRun()
    const steps = await (await fetch(`${server.url}/steps?runId=${runId}`)).json()
    expect(steps).toMatchObject([{ name: 'echo', status: 'completed', output: 'hi' }])
  })

  it('GET /logs answers the persisted logs', async () => {
    const runId = await completedRun()
    const logs = await (await fetch(`${server.url}/logs?runId=${runId}`)).json()
    expect(logs).toMatchObject([{ level: 'info', message: 'echoing', data: { value: 'hi' } }])
  })

  it('POST /cancel cancels a running run and POST /retry puts it back to pending', async () => {
    const { runId } = (await (await post('/trigger', { jobName: 'gated', input: {} })).json()) as {
      runId: string
    }
    await server.gated.entered.promise
    const cancelled = nextEvent(server.durably, 'run:cancel', (event) => event.runId === runId)
    expect((await post(`/cancel?runId=${runId}`)).status).toBe(200)
    await cancelled
    expect((await server.durably.getRun(runId))?.status).toBe('cancelled')
    const retry = await post(`/retry?runId=${runId}`)
    expect(retry.status).toBe(200)
    expect(await retry.json()).toEqual({ success: true })
    server.gated.held.open()
    await waitUntil(async () => (await server.durably.getRun(runId))?.status === 'completed')
  })

  it('DELETE /run deletes a finished run', async () => {
    const runId = await completedRun()
    const response = await fetch(`${server.url}/run?runId=${runId}`, { method: 'DELETE' })
    expect(response.status).toBe(200)
    expect(await server.durably.getRun(runId)).toBeNull()
  })

  it('GET /subscribe streams the run events in order and ends after the terminal one', async () => {
    const { runId } = (await (await post('/trigger', { jobName: 'gated', input: {} })).json()) as {
      runId: string
    }
    await server.gated.entered.promise
    const response = await fetch(`${server.url}/subscribe?runId=${runId}`)
    expect(response.headers.get('content-type')).toBe('text/event-stream')
    const events = readEvents(response)
    server.gated.held.open()
    const types = ((await events) as { type: string; sequence: number }[]).map((e) => e.type)
    expect(types).toEqual(['step:complete', 'run:complete'])
  })

  it('GET /subscribe of a finished run sends its terminal event and ends', async () => {
    const runId = await completedRun()
    const events = (await readEvents(await fetch(`${server.url}/subscribe?runId=${runId}`))) as {
      type: string
      output: unknown
    }[]
    expect(events).toMatchObject([{ type: 'run:complete', output: { echoed: 'hi' } }])
  })

  it('GET /runs/subscribe streams run-level events of every run, filtered by jobName', async () => {
    const controller = new AbortController()
    const response = await fetch(`${server.url}/runs/subscribe?jobName=echo`, {
      signal: controller.signal,
    })
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    await post('/trigger', { jobName: 'failing', input: {} })
    const { runId } = (await (
      await post('/trigger', { jobName: 'echo', input: { value: 'hi' } })
    ).json()) as { runId: string }
    let text = ''
    while (!text.includes('"run:complete"')) text += (await reader.read()).value ?? ''
    controller.abort()
    const events = text
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as { type: string; runId: string; jobName: string })
    expect(events.every((event) => event.jobName === 'echo' && event.runId === runId)).toBe(true)
    expect(events.map((event) => event.type)).toEqual([
      'run:trigger',
      'run:start',
      'run:progress',
      'run:complete',
    ])
  })

  it('sends keep-alive comments while a stream is idle', async () => {
    const controller = new AbortController()
    const response = await fetch(`${server.url}/runs/subscribe`, { signal: controller.signal })
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    while (!text.includes(': keep-alive')) text += (await reader.read()).value ?? ''
    controller.abort()
    expect(text.startsWith(': connected')).toBe(true)
  })
})
