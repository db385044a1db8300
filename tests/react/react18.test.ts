/**
 * React 18 is in the peer range, and the repository develops on React 19: so the packed
 * package is installed beside react@18 and react-dom@18 from the npm registry in a new app
 * (as tests/package/quick-start.test.ts installs its apps), and a script there renders hooks
 * on the server and in a DOM (jsdom) against the real handler served by this test.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exec, npmEnvIn, packDurably, ROOT } from '../support/package.js'
import { type HooksServer, startHooksServer } from './support.js'

// The app's script: React 18 from the app, jsdom from this repository (a DOM for the client).
const SCRIPT = `
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
const [api, mode] = process.argv.slice(2)
const repo = createRequire(${JSON.stringify(join(ROOT, 'package.json'))})
const React = await import('react')
const { createDurablyHooks } = await import('durably/react')
const hooks = createDurablyHooks({ api })
let latest
function Page() {
  latest = hooks.useJob('report')
  const runs = hooks.useRuns({ jobName: 'report' })
  return React.createElement('p', null, (latest.status ?? 'idle') + ' ' + runs.runs.length)
}
const report = (value) => console.log(JSON.stringify({ react: React.version, ...value }))
if (mode === 'server') {
  const { renderToString } = await import('react-dom/server')
  report({ html: renderToString(React.createElement(Page)) })
} else {
  const { JSDOM } = await import(pathToFileURL(repo.resolve('jsdom')).href)
  const dom = new JSDOM('<!doctype html><div id="root"></div>', { url: 'http://localhost/' })
  Object.assign(globalThis, {
    window: dom.window,
    document: dom.window.document,
    navigator: dom.window.navigator,
  })
  const { createRoot } = await import('react-dom/client')
  const element = document.getElementById('root')
  const root = createRoot(element)
  root.render(React.createElement(Page))
  const until = async (probe) => {
    const deadline = Date.now() + 20000
    while (!probe()) {
      if (Date.now() > deadline) throw new Error('timed out; last: ' + element.textContent)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  await until(() => latest)
  const { runId } = await latest.trigger({ parts: 3 })
  await until(() => latest.status === 'completed' && element.textContent === 'completed 1')
  report({ runId, output: latest.output, progress: latest.progress, text: element.textContent })
  root.unmount()
}
`

describe('durably/react on React 18', () => {
  let temp: string
  let app: string
  let server: HooksServer

  beforeAll(async () => {
    temp = mkdtempSync(join(tmpdir(), 'durably-react18-'))
    const npmEnv = npmEnvIn(temp)
    const { tarball } = await packDurably(temp, npmEnv)
    app = join(temp, 'app')
    mkdirSync(app)
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'react18-app', private: true, type: 'module' }),
    )
    writeFileSync(join(app, 'check.mjs'), SCRIPT)
    const installed = await exec(
      'npm',
      ['install', tarball, 'react@18', 'react-dom@18', 'kysely', 'zod'],
      app,
      npmEnv,
    )
    expect(installed.code, installed.stdout + installed.stderr).toBe(0)
    server = await startHooksServer()
    server.pacer.release(1000)
  }, 180_000)

  afterAll(async () => {
    await server?.close()
    if (temp) rmSync(temp, { recursive: true, force: true })
  })

  const check = async (mode: 'server' | 'client') => {
    const run = await exec(process.execPath, ['check.mjs', server.api, mode], app)
    expect(run.code, run.stderr).toBe(0)
    return JSON.parse(run.stdout) as Record<string, unknown>
  }

  it('renders a page using the hooks on the server, idle and without a request', async () => {
    const result = await check('server')
    expect(result.react).toMatch(/^18\./)
    expect(result.html).toBe('<p>idle 0</p>')
    expect(server.requests).toEqual([])
  }, 60_000)

  it('follows a triggered run in a DOM to its output, the run list with it', async () => {
    const result = await check('client')
    expect(result.react).toMatch(/^18\./)
    expect(result).toMatchObject({
      output: { parts: 3 },
      progress: { current: 3, total: 3 },
      text: 'completed 1',
    })
  }, 60_000)
})
