/**
 * SSE a page can rely on: the run's state first (so subscribing right after triggering misses
 * nothing), an id on every event, a stated reconnection delay, and a settled run's
 * reconnection answered 204 so an `EventSource` stops instead of looping.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { waitUntil } from '../support/wait.js'
import { readEvents, readFrames, startServer, type TestServer } from './server.js'

describe('SSE streams of the handler', () => {
  let server: TestServer
  beforeEach(async () => {
    server = await startServer()
  })
  afterEach(() => server.close())

  const trigger = async (jobName: string) => {
    const response = await fetch(`${server.url}/trigger`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jobName, input: jobName === 'echo' ? { value: 'v' } : {} }),
    })
    return ((await response.json()) as { runId: string }).runId
  }

  it('GET /subscribe sends the run as a named snapshot first, then its events with ids', async () => {
    const runId = await trigger('gated')
    await server.gated.entered.promise
    const response = await fetch(`${server.url}/subscribe?runId=${runId}`)
    const frames = readFrames(response)
    server.gated.held.open()
    const [retry, snapshot, ...events] = await frames
    expect(retry?.retry).toBeGreaterThan(0)
    expect(snapshot).toMatchObject({ event: 'snapshot', data: { id: runId, status: 'running' } })
    expect(events.map((frame) => (frame.data as { type: string }).type)).toEqual([
      'step:complete',
      'run:complete',
    ])
    for (const frame of events) {
      expect(frame.event).toBeUndefined()
      expect(frame.id).toBe(String((frame.data as { sequence: number }).sequence))
    }
  })

  it('keeps the snapshot out of what an onmessage handler receives', async () => {
    const runId = await trigger('echo')
    await waitUntil(async () => (await server.durably.getRun(runId))?.status === 'completed')
    const events = await readEvents(await fetch(`${server.url}/subscribe?runId=${runId}`))
    expect(events).toMatchObject([{ type: 'run:complete' }])
  })

  it('answers 204 to the reconnection of a settled run, which stops an EventSource', async () => {
    const runId = await trigger('echo')
    await waitUntil(async () => (await server.durably.getRun(runId))?.status === 'completed')
    const first = await readFrames(await fetch(`${server.url}/subscribe?runId=${runId}`))
    const lastId = first.at(-1)?.id
    expect(lastId).toBeDefined()
    const again = await fetch(`${server.url}/subscribe?runId=${runId}`, {
      headers: { 'last-event-id': lastId! },
    })
    expect(again.status).toBe(204)
  })

  it('gives every event of GET /runs/subscribe its sequence as id', async () => {
    const controller = new AbortController()
    const response = await fetch(`${server.url}/runs/subscribe`, { signal: controller.signal })
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    await trigger('echo')
    let text = ''
    while (!text.includes('"run:complete"')) {
      const { value, done } = await reader.read()
      if (done) break
      text += value
    }
    controller.abort()
    const frames = text.split('\n\n').filter((frame) => frame.includes('data: '))
    expect(frames.length).toBeGreaterThan(0)
    for (const frame of frames) {
      const id = /^id: (\d+)$/m.exec(frame)?.[1]
      const data = JSON.parse(/^data: (.*)$/m.exec(frame)![1]!) as { sequence: number }
      expect(id).toBe(String(data.sequence))
    }
  })
})
