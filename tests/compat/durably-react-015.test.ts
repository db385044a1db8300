/**
 * `@coji/durably-react` 0.15 (upstream's hooks, a later protocol than the 0.6.0 one our handler
 * keeps) against our handler, over a real loopback socket. What it does, read from its
 * published source (`npm pack @coji/durably-react@0.15.0`, dist/index.js and the shared chunk):
 *
 * - `useJob`/`useJobRun` take a run's status from `EventSource.onmessage` frames only:
 *   `run:leased` → "leased", `run:complete`/`run:fail`/`run:cancel` → the end. Upstream 0.15
 *   renamed 0.6.0's `run:start` to `run:leased`; we send `run:start`, so its status stayed
 *   "pending" for the whole run. Ours to fix without changing anyone's stream: the
 *   `leasedEvents: true` handler option adds a `run:leased` frame beside each `run:start`
 *   (and after the snapshot of a running run: upstream ignores our named `snapshot` event,
 *   so after a reload it would otherwise know nothing until the run ends). It stays opt-in
 *   because it adds frames to streams that other clients, ours included, read as they are.
 * - `autoResume` asks `GET /runs?jobName=…&status=leased&limit=1` (and `status=pending`).
 *   We answered 400 (`leased` is not one of our statuses) and the run vanished from the page
 *   after a reload. Ours to fix: `status=leased` is accepted as `running`, always.
 * - `followLatest` and `useRuns` listen on `/runs/subscribe` for `run:trigger` (we send it)
 *   and `run:leased` (with `leasedEvents`), and `useRuns` refreshes on `step:start`; our run
 *   list stream carries run-level events only, so a list it shows catches up at the next run
 *   event instead. Not fixed: step events on that stream would multiply its traffic for
 *   every client to serve one of upstream's refreshes.
 * - Not ours to fix, because our handler has no such feature: `useRunActions().retrigger`
 *   posts to `/retrigger` (upstream 0.15's "new run with the same input"), which is 404 here
 *   (use `POST /trigger` with the run's `payload`, or `POST /retry` to resume the same run);
 *   `useRuns({ labels })` sends `label.<key>=` parameters, and our runs have no labels, so
 *   they are ignored; upstream's `run:coalesced` and `step:cancel` events do not exist here.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../http/server.js'
import { waitUntil } from '../support/wait.js'

let server: TestServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

const started = async (options: Parameters<typeof startServer>[0] = {}) => {
  server = await startServer(options)
  return server
}

interface Message {
  type?: string
  runId?: string
  output?: unknown
}

/** The status upstream's subscription reducer derives from what `onmessage` received. */
function upstreamStatus(messages: readonly Message[]): string | null {
  let status: string | null = null
  for (const message of messages) {
    if (message.type === 'run:leased') status = 'leased'
    if (message.type === 'run:complete') status = 'completed'
    if (message.type === 'run:fail') status = 'failed'
    if (message.type === 'run:cancel') status = 'cancelled'
  }
  return status
}

/**
 * An SSE response read as `EventSource.onmessage` sees it, frame by frame as they arrive:
 * only unnamed events, their data as JSON. `ended` settles when the server ends the stream.
 */
function listen(response: Response) {
  const messages: Message[] = []
  const ended = (async () => {
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      buffer += value
      const frames = buffer.split('\n\n')
      buffer = frames.pop() ?? ''
      for (const frame of frames) {
        const lines = frame.split('\n')
        if (lines.some((line) => line.startsWith('event: '))) continue
        const data = lines.find((line) => line.startsWith('data: '))
        if (data) messages.push(JSON.parse(data.slice(6)) as Message)
      }
    }
  })()
  return { messages, ended }
}

const triggerGated = async (s: TestServer) => {
  const response = await fetch(`${s.url}/trigger`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jobName: 'gated', input: {} }),
  })
  return ((await response.json()) as { runId: string }).runId
}

describe('@coji/durably-react 0.15 against our handler', () => {
  it('autoResume: GET /runs?status=leased finds the running run (it was a 400)', async () => {
    const s = await started()
    const runId = await triggerGated(s)
    await s.gated.entered.promise
    const leased = await fetch(
      `${s.url}/runs?${new URLSearchParams({ jobName: 'gated', status: 'leased', limit: '1' })}`,
    )
    expect(leased.status).toBe(200)
    expect(await leased.json()).toMatchObject([{ id: runId, status: 'running' }])
    const pending = await fetch(`${s.url}/runs?jobName=gated&status=pending&limit=1`)
    expect(await pending.json()).toEqual([])
  })

  it('useJob: with leasedEvents the status goes leased, then completed', async () => {
    const s = await started({ leasedEvents: true })
    const runId = await triggerGated(s)
    const stream = listen(await fetch(`${s.url}/subscribe?runId=${runId}`))
    await s.gated.entered.promise
    await waitUntil(() => upstreamStatus(stream.messages) === 'leased')
    s.gated.held.open()
    await stream.ended
    expect(upstreamStatus(stream.messages)).toBe('completed')
    const leased = stream.messages.filter((message) => message.type === 'run:leased')
    expect(leased.every((message) => message.runId === runId)).toBe(true)
    // One per claim: the run started once, and the snapshot may have said it once more.
    expect(leased.length).toBeGreaterThanOrEqual(1)
    expect(leased.length).toBeLessThanOrEqual(2)
  })

  it('after a reload: subscribing to a running run says leased at once', async () => {
    const s = await started({ leasedEvents: true })
    const runId = await triggerGated(s)
    await s.gated.entered.promise
    const stream = listen(await fetch(`${s.url}/subscribe?runId=${runId}`))
    await waitUntil(() => stream.messages.length > 0)
    expect(stream.messages[0]).toMatchObject({ type: 'run:leased', runId })
    s.gated.held.open()
    await stream.ended
    expect(upstreamStatus(stream.messages)).toBe('completed')
  })

  it('followLatest and useRuns: /runs/subscribe says run:leased after run:start', async () => {
    const s = await started({ leasedEvents: true })
    const controller = new AbortController()
    const stream = listen(
      await fetch(`${s.url}/runs/subscribe?jobName=gated`, { signal: controller.signal }),
    )
    stream.ended.catch(() => undefined) // the abort below ends it
    const runId = await triggerGated(s)
    await waitUntil(() => stream.messages.some((message) => message.type === 'run:leased'))
    controller.abort()
    expect(stream.messages.map((message) => [message.type, message.runId])).toEqual([
      ['run:trigger', runId],
      ['run:start', runId],
      ['run:leased', runId],
    ])
  })

  it('without the option the streams are as they were: no run:leased, status never leased', async () => {
    const s = await started()
    const runId = await triggerGated(s)
    const stream = listen(await fetch(`${s.url}/subscribe?runId=${runId}`))
    await s.gated.entered.promise
    s.gated.held.open()
    await stream.ended
    expect(stream.messages.map((message) => message.type)).not.toContain('run:leased')
    expect(upstreamStatus(stream.messages)).toBe('completed')
  })

  it('retrigger is upstream-only: POST /retrigger is 404 here', async () => {
    const s = await started()
    const runId = await triggerGated(s)
    const response = await fetch(`${s.url}/retrigger?runId=${runId}`, { method: 'POST' })
    expect(response.status).toBe(404)
  })
})
