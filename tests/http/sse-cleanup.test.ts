/** SSE clients that go away must take every listener with them. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { waitUntil } from '../support/wait.js'
import { startServer, type TestServer } from './server.js'

const CYCLES = 1000

describe('SSE cleanup over a real socket', () => {
  let server: TestServer
  beforeEach(async () => {
    server = await startServer()
  })
  afterEach(() => server.close())

  async function subscribeThenAbort(path: string) {
    const controller = new AbortController()
    const response = await fetch(`${server.url}${path}`, { signal: controller.signal })
    expect(response.status).toBe(200)
    // Wait for the stream to be open on the server side before going away.
    const reader = response.body!.getReader()
    await reader.read()
    controller.abort()
    await reader.closed.catch(() => undefined)
  }

  it.each(['/runs/subscribe', '/subscribe?runId=RUN'])(
    `${CYCLES} subscribe-then-abort cycles on %s leave the listener count where it started`,
    async (template) => {
      const running = await server.durably.jobs.gated.trigger({})
      await server.gated.entered.promise
      const path = template.replace('RUN', running.id)
      const baseline = server.durably.listenerCount()
      for (let cycle = 0; cycle < CYCLES; cycle++) await subscribeThenAbort(path)
      await waitUntil(() => server.durably.listenerCount() === baseline, {
        what: `the listener count to return to ${baseline} (now ${server.durably.listenerCount()})`,
      })
      expect(server.durably.listenerCount()).toBe(baseline)
    },
    120_000,
  )

  it('a stream that ends on its own releases its listeners too', async () => {
    const baseline = server.durably.listenerCount()
    const run = await server.durably.jobs.echo.trigger({ value: 'x' })
    const response = await fetch(`${server.url}/subscribe?runId=${run.id}`)
    await response.text()
    await waitUntil(() => server.durably.listenerCount() === baseline, {
      what: 'listeners to be released',
    })
  })
})
