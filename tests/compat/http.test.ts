/**
 * Code written for `@coji/durably` 0.6.0's HTTP handler keeps working against ours, over a
 * real loopback socket: its routes and success bodies, its exact `Content-Type` values, its
 * error words, and its `onRequest` hook. Where we deliberately answer with a better status
 * than 0.6.0 did (409 for a retry or cancel in the wrong status, where 0.6.0 answered 500),
 * the test says so.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createDurablyHandler } from '../../src/index.js'
import { readEvents, startServer, type TestServer } from '../http/server.js'
import { nextEvent, waitUntil } from '../support/wait.js'

let server: TestServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

const started = async (options: Parameters<typeof startServer>[0] = {}) => {
  server = await startServer(options)
  return server
}

const post = (s: TestServer, path: string, body?: unknown) =>
  fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })

const completedRun = async (s: TestServer) => {
  const { runId } = (await (
    await post(s, '/trigger', { jobName: 'echo', input: { value: 'v' } })
  ).json()) as { runId: string }
  await waitUntil(async () => (await s.durably.getRun(runId))?.status === 'completed')
  return runId
}

describe('0.6.0 routes and success bodies', () => {
  it('POST /trigger answers { runId } and nothing else', async () => {
    const s = await started()
    const response = await post(s, '/trigger', { jobName: 'echo', input: { value: 'a' } })
    expect(response.status).toBe(200)
    const body = (await response.json()) as Record<string, unknown>
    expect(Object.keys(body)).toEqual(['runId'])
    expect(typeof body.runId).toBe('string')
  })

  it('GET /runs, /run and /steps answer the array, the run and its steps', async () => {
    const s = await started()
    const runId = await completedRun(s)
    const runs = (await (await fetch(`${s.url}/runs`)).json()) as { id: string }[]
    expect(runs.map((run) => run.id)).toEqual([runId])
    expect(await (await fetch(`${s.url}/run?runId=${runId}`)).json()).toMatchObject({
      id: runId,
      jobName: 'echo',
      status: 'completed',
      output: { echoed: 'v' },
    })
    expect(await (await fetch(`${s.url}/steps?runId=${runId}`)).json()).toMatchObject([
      { name: 'echo', status: 'completed' },
    ])
  })

  it('POST /cancel, POST /retry and DELETE /run answer { success: true }', async () => {
    const s = await started()
    const { runId } = (await (
      await post(s, '/trigger', { jobName: 'gated', input: {} })
    ).json()) as {
      runId: string
    }
    await s.gated.entered.promise
    const cancelled = nextEvent(s.durably, 'run:cancel', (event) => event.runId === runId)
    const cancel = await post(s, `/cancel?runId=${runId}`)
    expect([cancel.status, await cancel.json()]).toEqual([200, { success: true }])
    await cancelled
    const retry = await post(s, `/retry?runId=${runId}`)
    expect([retry.status, await retry.json()]).toEqual([200, { success: true }])
    s.gated.held.open()
    await waitUntil(async () => (await s.durably.getRun(runId))?.status === 'completed')
    const deleted = await fetch(`${s.url}/run?runId=${runId}`, { method: 'DELETE' })
    expect([deleted.status, await deleted.json()]).toEqual([200, { success: true }])
  })

  it('GET /subscribe and GET /runs/subscribe stream `data:` frames of JSON events', async () => {
    const s = await started()
    const runId = await completedRun(s)
    const events = (await readEvents(await fetch(`${s.url}/subscribe?runId=${runId}`))) as {
      type: string
      runId: string
    }[]
    expect(events.at(-1)).toMatchObject({ type: 'run:complete', runId })

    const controller = new AbortController()
    const all = await fetch(`${s.url}/runs/subscribe`, { signal: controller.signal })
    const reader = all.body!.pipeThrough(new TextDecoderStream()).getReader()
    const second = await completedRun(s)
    let text = ''
    while (!text.includes(`"runId":"${second}"`)) text += (await reader.read()).value ?? ''
    controller.abort()
    expect(text).toMatch(/^data: \{.*"type":"run:trigger"/m)
  })
})

describe('0.6.0 Content-Type values, compared as strings', () => {
  it('JSON answers, successes and refusals alike, say exactly application/json', async () => {
    const s = await started()
    const answers = [
      await fetch(`${s.url}/runs`),
      await post(s, '/trigger', { jobName: 'echo', input: { value: 'x' } }),
      await fetch(`${s.url}/run?runId=nope`),
      await post(s, '/trigger', {}),
      await fetch(`${s.url}/nowhere`),
    ]
    expect(answers.map((answer) => answer.headers.get('content-type'))).toEqual(
      Array(answers.length).fill('application/json'),
    )
  })

  it('both streams say exactly text/event-stream', async () => {
    const s = await started()
    const runId = await completedRun(s)
    const one = await fetch(`${s.url}/subscribe?runId=${runId}`)
    expect(one.headers.get('content-type')).toBe('text/event-stream')
    await one.text()
    const controller = new AbortController()
    const all = await fetch(`${s.url}/runs/subscribe`, { signal: controller.signal })
    expect(all.headers.get('content-type')).toBe('text/event-stream')
    controller.abort()
  })
})

describe('0.6.0 error words', () => {
  const expectError = async (response: Response, status: number, error: string) => {
    expect({ status: response.status, body: await response.json() }).toEqual({
      status,
      body: { error },
    })
  }

  it('a trigger without a jobName: 400 "jobName is required"', async () => {
    const s = await started()
    await expectError(await post(s, '/trigger', { input: {} }), 400, 'jobName is required')
    await expectError(await post(s, '/trigger', { jobName: '' }), 400, 'jobName is required')
  })

  it('a trigger of an unknown job: 404 "Job not found: <name>"', async () => {
    const s = await started()
    await expectError(
      await post(s, '/trigger', { jobName: 'no-such-job', input: {} }),
      404,
      'Job not found: no-such-job',
    )
  })

  it('every run route without runId: 400 "runId query parameter is required"', async () => {
    const s = await started()
    const missing = [
      fetch(`${s.url}/run`),
      fetch(`${s.url}/steps`),
      fetch(`${s.url}/subscribe`),
      post(s, '/retry'),
      post(s, '/cancel'),
      fetch(`${s.url}/run?runId=`, { method: 'DELETE' }),
    ]
    for (const response of await Promise.all(missing)) {
      await expectError(response, 400, 'runId query parameter is required')
    }
  })

  it('every run route for an unknown run: 404 "Run not found"', async () => {
    const s = await started()
    const unknown = [
      fetch(`${s.url}/run?runId=nope`),
      fetch(`${s.url}/steps?runId=nope`),
      fetch(`${s.url}/subscribe?runId=nope`),
      post(s, '/retry?runId=nope'),
      post(s, '/cancel?runId=nope'),
      fetch(`${s.url}/run?runId=nope`, { method: 'DELETE' }),
    ]
    for (const response of await Promise.all(unknown)) {
      await expectError(response, 404, 'Run not found')
    }
  })

  it('an unknown route: 404 "Not Found" (as JSON, where 0.6.0 sent plain text)', async () => {
    const s = await started()
    await expectError(await fetch(`${s.url}/nowhere`), 404, 'Not Found')
  })

  it('retry and cancel in the wrong status keep our 409 (0.6.0 answered 500)', async () => {
    const s = await started()
    const runId = await completedRun(s)
    expect((await post(s, `/retry?runId=${runId}`)).status).toBe(409)
    expect((await post(s, `/cancel?runId=${runId}`)).status).toBe(409)
  })
})

describe('0.6.0 onRequest', () => {
  it('is awaited before the request is handled: lazy init() through it works', async () => {
    let inits = 0
    const s = await started({
      lazy: true,
      setup: (durably) => ({
        onRequest: async () => {
          inits++
          await durably.init()
        },
      }),
    })
    const runId = await completedRun(s)
    expect(inits).toBeGreaterThanOrEqual(1)
    expect((await s.durably.getRun(runId))?.status).toBe('completed')
  })

  it('is called once for every request, streams and unknown routes included, with no arguments', async () => {
    const onRequest = vi.fn()
    const s = await started({ onRequest })
    const runId = await completedRun(s) // 1 request: the trigger
    await (await fetch(`${s.url}/run?runId=${runId}`)).json()
    await (await fetch(`${s.url}/subscribe?runId=${runId}`)).text()
    const controller = new AbortController()
    await fetch(`${s.url}/runs/subscribe`, { signal: controller.signal })
    controller.abort()
    await (await fetch(`${s.url}/nowhere`)).text()
    expect(onRequest).toHaveBeenCalledTimes(5)
    for (const call of onRequest.mock.calls) expect(call).toEqual([])
  })

  it('runs before authorize, so authorize sees an initialised instance', async () => {
    const order: string[] = []
    const s = await started({
      onRequest: async () => {
        await Promise.resolve()
        order.push('onRequest')
      },
      authorize: () => {
        order.push('authorize')
        return true
      },
    })
    await (await fetch(`${s.url}/runs`)).json()
    expect(order).toEqual(['onRequest', 'authorize'])
  })

  it('when it throws, the request is not handled and answers 500 without details', async () => {
    const onError = vi.fn()
    const s = await started({
      onError,
      onRequest: () => {
        throw new Error('database password is hunter2')
      },
    })
    const response = await post(s, '/trigger', { jobName: 'echo', input: { value: 'x' } })
    expect(response.status).toBe(500)
    expect(await response.json()).toEqual({ error: 'Internal server error' })
    expect(onError).toHaveBeenCalledOnce()
    expect(await s.durably.getRuns()).toEqual([])
  })

  it('a Response it throws is the answer (a 503 while warming up, say)', async () => {
    const s = await started({
      onRequest: () => {
        throw new Response('warming up', { status: 503, headers: { 'retry-after': '1' } })
      },
    })
    const response = await fetch(`${s.url}/runs`)
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(await response.text()).toBe('warming up')
  })

  it('is called by the direct methods too; a direct stream reports its failure as an event', async () => {
    const s = await started()
    const calls: string[] = []
    const handler = createDurablyHandler(s.durably, {
      onRequest: () => {
        calls.push('onRequest')
        if (calls.length > 1) throw new Error('down')
      },
    })
    const ok = await handler.runs(new Request(`${s.url}/runs`))
    expect(ok.status).toBe(200)
    const refused = handler.subscribe(new Request(`${s.url}/subscribe?runId=any`))
    expect(await readEvents(refused)).toEqual([{ error: 'Internal server error', status: 500 }])
    expect(calls).toEqual(['onRequest', 'onRequest'])
  })
})
