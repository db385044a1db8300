/**
 * Server rendering: in plain Node (no DOM, no `window`), the hooks module imports and a page
 * using every hook renders to HTML without a single request; the page starts following runs
 * only once it runs in a browser.
 */
import { createElement, type ReactNode } from 'react'
import { renderToString } from 'react-dom/server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDurablyHooks } from '../../src/react/index.js'
import { type HooksServer, type Jobs, startHooksServer } from './support.js'

describe('durably/react under server rendering', () => {
  let server: HooksServer
  beforeAll(async () => {
    server = await startHooksServer()
  })
  afterAll(() => server.close())

  it('imports where there is no window or document', () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined')
    expect(typeof (globalThis as { document?: unknown }).document).toBe('undefined')
    expect(typeof createDurablyHooks).toBe('function')
  })

  it('renders a page using every hook to HTML without making a request', () => {
    const hooks = createDurablyHooks<Jobs>({ api: server.api })
    function Page(): ReactNode {
      const job = hooks.useJob('report')
      const run = hooks.useRun('some-run-id')
      const runs = hooks.useRuns({ jobName: 'report' })
      hooks.useRunActions()
      hooks.useSignal('some-run-id', 'approval')
      return createElement(
        'p',
        null,
        `job:${job.status ?? 'idle'} run:${run.isLoading ? 'loading' : 'ready'} runs:${runs.runs.length}`,
      )
    }
    const html = renderToString(createElement(Page))
    expect(html).toBe('<p>job:idle run:loading runs:0</p>')
    expect(server.requests).toEqual([])
  })
})
