/**
 * The page: one durably worker per tab on a shared OPFS database, a button that triggers a
 * run, and a progress bar per run fed by events. `window.durablyExample` is what the e2e test
 * (tests/e2e/browser-resume.test.ts) drives.
 */

import { createDurably, type Durably, type Run } from 'durably'
import { sql } from 'kysely'
import { SQLocalKysely } from 'sqlocal/kysely'
import { importJob, STEPS } from './job.js'

const params = new URLSearchParams(location.search)
const databaseName = params.get('db') ?? 'durably-example.sqlite3'
const tab = crypto.randomUUID().slice(0, 8)
const client = new SQLocalKysely(databaseName)

const durably: Durably = createDurably({ dialect: client.dialect, pollingInterval: 500 })
const { importPhotos } = durably.register({ importPhotos: importJob(() => durably, tab) })

const runsElement = document.querySelector<HTMLDivElement>('#runs')!
const startButton = document.querySelector<HTMLButtonElement>('#start')!
const bars = new Map<string, HTMLDivElement>()

function render(run: Pick<Run, 'id' | 'status'> & { current?: number }) {
  let element = bars.get(run.id)
  if (!element) {
    element = document.createElement('div')
    element.className = 'run'
    element.dataset.runId = run.id
    element.innerHTML =
      '<div class="meta"><span class="id"></span><span class="status"></span></div>' +
      '<div class="bar"><div class="fill" style="width:0%"></div></div>'
    element.querySelector('.id')!.textContent = run.id
    runsElement.prepend(element)
    bars.set(run.id, element)
  }
  const percent = run.current === undefined ? undefined : Math.round((run.current / STEPS) * 100)
  if (percent !== undefined) {
    element.dataset.percent = String(percent)
    element.querySelector<HTMLDivElement>('.fill')!.style.width = `${percent}%`
  }
  element.dataset.status = run.status
  element.querySelector('.status')!.textContent =
    `${run.status}${percent === undefined ? '' : ` · ${percent} %`}`
}

durably.on('run:trigger', (event) => render({ id: event.runId, status: 'pending' }))
durably.on('run:start', (event) => {
  starts.push({ runId: event.runId, at: performance.now() })
  render({ id: event.runId, status: 'running' })
})
durably.on('run:progress', (event) =>
  render({ id: event.runId, status: 'running', current: event.progress.current }),
)
durably.on('run:complete', (event) =>
  render({ id: event.runId, status: 'completed', current: STEPS }),
)
durably.on('run:fail', (event) => render({ id: event.runId, status: 'failed' }))

const starts: { runId: string; at: number }[] = []

async function showStoredRuns() {
  for (const run of (await durably.getRuns({ limit: 50 })).reverse()) {
    render({ id: run.id, status: run.status, current: run.progress?.current ?? run.stepCount })
  }
}

startButton.addEventListener('click', async () => {
  await importPhotos.trigger({ album: `album-${Date.now()}` })
})

await durably.migrate()
await sql`CREATE TABLE IF NOT EXISTS example_executions (run_id TEXT, step INTEGER, tab TEXT)`.execute(
  durably.db,
)
await showStoredRuns()
durably.start()
startButton.disabled = false

/** Steps per second of durably next to raw single-row inserts through SQLocal, in this page. */
async function measure(steps: number) {
  await client.sql`CREATE TABLE IF NOT EXISTS example_floor (id INTEGER PRIMARY KEY, value TEXT)`
  const rawStarted = performance.now()
  for (let index = 0; index < steps; index++) {
    await client.sql`INSERT INTO example_floor (value) VALUES (${String(index)})`
  }
  const rawMs = (performance.now() - rawStarted) / steps
  const { defineJob } = await import('durably')
  const { z } = await import('zod')
  const { manySteps } = durably.register({
    manySteps: defineJob({
      name: 'many-steps',
      input: z.object({}),
      run: async (step) => {
        for (let index = 0; index < steps; index++) await step.run('step', () => index)
      },
    }),
  })
  const started = performance.now()
  await manySteps.triggerAndWait({})
  const stepMs = (performance.now() - started) / steps
  return {
    steps,
    raw_insert_ms: Number(rawMs.toFixed(2)),
    ms_per_step: Number(stepMs.toFixed(2)),
    steps_per_s: Number((1000 / stepMs).toFixed(1)),
    raw_inserts_per_s: Number((1000 / rawMs).toFixed(1)),
    ratio_to_raw_insert: Number((stepMs / rawMs).toFixed(2)),
  }
}

declare global {
  interface Window {
    durablyExample: typeof api
  }
}

const api = {
  ready: true,
  tab,
  loadedAt: performance.now(),
  durably,
  starts,
  trigger: (album: string) => importPhotos.trigger({ album }).then((run) => run.id),
  executions: () =>
    sql<{
      run_id: string
      step: number
      tab: string
    }>`SELECT run_id, step, tab FROM example_executions`
      .execute(durably.db)
      .then((result) => result.rows),
  measure,
}
window.durablyExample = api
