import { afterEach, describe, expect, it, vi } from 'vitest'
import { type AuthorizeContext, createDurablyHandler } from '../../src/index.js'
import { waitUntil } from '../support/wait.js'
import { BASE_PATH, readEvents, startServer, type TestServer } from './server.js'

describe('createDurablyHandler options', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  const trigger = (url: string, jobName: string, input: unknown = {}) =>
    fetch(`${url}/trigger`, { method: 'POST', body: JSON.stringify({ jobName, input }) })

  it('authorize returning false answers 403 and stores nothing', async () => {
    server = await startServer({ authorize: () => false })
    const response = await trigger(server.url, 'echo', { value: 'x' })
    expect(response.status).toBe(403)
    expect(await server.durably.getRuns()).toEqual([])
  })

  it('authorize returning a Response answers with it (a 401, say)', async () => {
    server = await startServer({
      authorize: () =>
        new Response(JSON.stringify({ error: 'sign in' }), {
          status: 401,
          headers: { 'www-authenticate': 'Bearer' },
        }),
    })
    const response = await fetch(`${server.url}/runs`)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Bearer')
  })

  it('authorize sees the action, the job and the run', async () => {
    const seen: AuthorizeContext[] = []
    server = await startServer({
      authorize: (_request, context) => {
        seen.push(context)
        return true
      },
    })
    const { runId } = (await (await trigger(server.url, 'echo', { value: 'x' })).json()) as {
      runId: string
    }
    await fetch(`${server.url}/run?runId=${runId}`)
    expect(seen).toEqual([
      { action: 'trigger', jobName: 'echo' },
      { action: 'run', runId, jobName: 'echo' },
    ])
  })

  it('a denied client cannot tell whether a run exists', async () => {
    server = await startServer({ authorize: () => false })
    expect((await fetch(`${server.url}/run?runId=nope`)).status).toBe(403)
  })

  it('triggerableJobs refuses other jobs with 403', async () => {
    server = await startServer({ triggerableJobs: ['echo'] })
    expect((await trigger(server.url, 'failing')).status).toBe(403)
    expect((await trigger(server.url, 'echo', { value: 'x' })).status).toBe(200)
  })

  it('maxBodyBytes lowers the body limit', async () => {
    server = await startServer({ maxBodyBytes: 64 })
    const response = await trigger(server.url, 'echo', { value: 'x'.repeat(100) })
    expect(response.status).toBe(413)
  })

  it('an unexpected failure answers 500 without leaking its message or stack', async () => {
    const onError = vi.fn()
    server = await startServer({
      onError,
      authorize: () => {
        throw new Error('secret detail at /srv/app/auth.ts:12')
      },
    })
    const response = await fetch(`${server.url}/runs`)
    expect(response.status).toBe(500)
    const text = await response.text()
    expect(JSON.parse(text)).toEqual({ error: 'Internal server error' })
    expect(text).not.toMatch(/secret|\.ts|at /)
    expect(onError).toHaveBeenCalledOnce()
  })

  it('a closed instance answers 503 without details', async () => {
    server = await startServer()
    const handler = createDurablyHandler(server.durably)
    await server.durably.destroy()
    const response = await handler.handle(new Request(`http://x${BASE_PATH}/runs`), BASE_PATH)
    expect(response.status).toBe(503)
    expect(await response.json()).toEqual({ error: 'Service unavailable; try again' })
  })

  it('subscribe() called directly answers a refusal inside the stream', async () => {
    server = await startServer()
    const handler = createDurablyHandler(server.durably)
    const response = handler.subscribe(new Request(`http://x${BASE_PATH}/subscribe?runId=nope`))
    const text = await response.text()
    expect(text).toContain('"status":404')
  })

  it('authorize refusing a stream: a real status through handle(), an event when direct', async () => {
    const refusal = () => new Response('sign in', { status: 401 })
    server = await startServer({ authorize: refusal })
    const viaHandle = await fetch(`${server.url}/runs/subscribe`)
    expect([viaHandle.status, await viaHandle.text()]).toEqual([401, 'sign in'])
    const handler = createDurablyHandler(server.durably, { authorize: refusal })
    const direct = handler.runsSubscribe(new Request(`http://x${BASE_PATH}/runs/subscribe`))
    expect(direct.status).toBe(200)
    expect(await readEvents(direct)).toEqual([{ error: 'Refused', status: 401 }])
  })

  it('a direct stream answers a bad query parameter with its status at once', async () => {
    server = await startServer()
    const handler = createDurablyHandler(server.durably)
    const response = handler.subscribe(new Request(`http://x${BASE_PATH}/subscribe`))
    expect(response.status).toBe(400)
    expect(await response.json()).toEqual({ error: 'runId query parameter is required' })
  })

  it('is served the same when mounted in a Hono app', async () => {
    server = await startServer({ via: 'hono' })
    const { runId } = (await (await trigger(server.url, 'echo', { value: 'h' })).json()) as {
      runId: string
    }
    await waitUntil(async () => (await server!.durably.getRun(runId))?.status === 'completed')
    const run = (await (await fetch(`${server.url}/run?runId=${runId}`)).json()) as {
      output: unknown
    }
    expect(run.output).toEqual({ echoed: 'h' })
    expect((await fetch(`${server.url}/nope`)).status).toBe(404)
    const events = await (await fetch(`${server.url}/subscribe?runId=${runId}`)).text()
    expect(events).toContain('"run:complete"')
  })
})
