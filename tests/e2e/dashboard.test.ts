/**
 * The dashboard in Debian's Chromium: a durably instance on a libSQL file behind its handler
 * (`dashboard: true`) on a loopback socket, driven through the page as a person would. Each
 * page is saved to tests/e2e/__screenshots__/ (git ignores it) at 1280 px in light and at a
 * phone's width in dark, for a person to look at.
 */
import { mkdirSync } from 'node:fs'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  createDurably,
  createDurablyHandler,
  type Durably,
  defineJob,
  withLogPersistence,
} from '../../src/index.js'
import { FAST } from '../contract/harness.js'
import { BASE_PATH, listen } from '../http/server.js'
import { libsqlBackend, type TestDatabase } from '../support/backends.js'
import { findChromium } from '../support/chromium.js'
import { gate, waitUntil } from '../support/wait.js'

const executablePath = findChromium()
const SHOTS = 'tests/e2e/__screenshots__'
const STEPS = 3

describe.skipIf(!executablePath)('dashboard in Chromium', () => {
  let browser: Browser
  let database: TestDatabase
  let durably: Durably
  let server: { origin: string; close(): Promise<void> }
  let dashboardUrl: string
  const stepGates = Array.from({ length: STEPS }, () => gate())
  const stepEntered = Array.from({ length: STEPS }, () => gate())
  const hold = gate()
  let failNextFlaky = true

  const progressJob = defineJob({
    name: 'import-orders',
    input: z.object({ batch: z.string() }),
    run: async (step, { batch }) => {
      for (let i = 0; i < STEPS; i++) {
        await step.run(`page-${i + 1}`, async () => {
          stepEntered[i]!.open()
          await stepGates[i]!.promise
          step.log.info(`imported page ${i + 1} of ${batch}`, { page: i + 1 })
          return { page: i + 1 }
        })
        step.progress(i + 1, STEPS, `page ${i + 1} of ${STEPS}`)
      }
      return { imported: STEPS }
    },
  })

  const flakyJob = defineJob({
    name: 'send-invoice',
    input: z.object({ invoiceId: z.string() }),
    run: async (step, { invoiceId }) => {
      await step.run('render', () => `invoice ${invoiceId}`)
      await step.run('deliver', () => {
        if (failNextFlaky) {
          failNextFlaky = false
          throw new Error('SMTP server said 421: try again later')
        }
        return 'sent'
      })
      return 42
    },
  })

  const holdJob = defineJob({
    name: 'long-export',
    input: z.object({}),
    run: async (step) => {
      await step.run('export', async () => {
        await hold.promise
        return 'done'
      })
      await step.run('upload', () => 'uploaded')
    },
  })

  const greetJob = defineJob({
    name: 'greet',
    input: z.object({ name: z.string().min(1), times: z.number().int().min(1) }),
    run: async (step, { name, times }) => {
      step.log.info(`greeting ${name}`)
      return { greeting: `hello ${name}`.repeat(times) }
    },
  })

  const napJob = defineJob({
    name: 'nap',
    input: z.object({}),
    schedule: { cron: '0 3 * * *', timezone: 'UTC' },
    run: async (step) => {
      await step.sleep('nap', 3_600_000)
    },
  })

  const bulkJob = defineJob({
    name: 'bulk',
    input: z.object({ blob: z.string() }),
    run: async () => null,
  })

  const tinyJob = defineJob({
    name: 'tiny',
    input: z.object({ i: z.number() }),
    run: async () => null,
  })

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    database = await libsqlBackend.create()
    durably = createDurably({ ...FAST, dialect: database.dialect })
      .use(withLogPersistence())
      .register({
        progressJob,
        flakyJob,
        holdJob,
        greetJob,
        napJob,
        bulkJob,
        tinyJob,
      }) as unknown as Durably
    await durably.init()
    const handler = createDurablyHandler(durably, { dashboard: true, keepAliveInterval: 1000 })
    server = await listen((request) => handler.handle(request, BASE_PATH))
    dashboardUrl = `${server.origin}${BASE_PATH}/`
    browser = await chromium.launch({
      executablePath: executablePath!,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'],
    })
  }, 60_000)

  afterAll(async () => {
    for (const g of stepGates) g.open()
    hold.open()
    await browser?.close()
    await server?.close()
    await durably?.destroy()
    await database?.cleanup()
  })

  async function light(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      colorScheme: 'light',
    })
    context.setDefaultTimeout(15_000)
    return { context, page: await context.newPage() }
  }

  async function phoneDark(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      colorScheme: 'dark',
      deviceScaleFactor: 1,
    })
    context.setDefaultTimeout(15_000)
    return { context, page: await context.newPage() }
  }

  const shot = (page: Page, name: string, fullPage = true) =>
    page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage })

  const row = (page: Page, runId: string) => page.locator(`tr[data-run-id="${runId}"]`)

  it("the runs list shows a run's progress bar move as its steps finish, live", async () => {
    const { context, page } = await light()
    try {
      const errors: string[] = []
      page.on('pageerror', (error) => errors.push(error.message))
      await page.goto(dashboardUrl)
      await page.locator('#live[data-state="live"]').waitFor()
      const run = await durably.getJob('import-orders')!.trigger({ batch: 'november' })
      await row(page, run.id).waitFor()
      const percent = () =>
        row(page, run.id).locator('.progress').getAttribute('data-percent', { timeout: 10_000 })
      for (let i = 0; i < STEPS - 1; i++) {
        await stepEntered[i]!.promise
        stepGates[i]!.open()
        const expected = String(Math.round(((i + 1) / STEPS) * 100))
        await waitUntil(async () => (await percent()) === expected, {
          what: `progress ${expected} %`,
        })
      }
      await expect(row(page, run.id).locator('.progress .msg').textContent()).resolves.toContain(
        `page ${STEPS - 1} of ${STEPS}`,
      )
      await expect(row(page, run.id).getAttribute('data-status')).resolves.toBe('running')
      await shot(page, 'runs-1280-light')
      stepEntered[STEPS - 1]!.promise.then(() => stepGates[STEPS - 1]!.open())
      await page.locator(`tr[data-run-id="${run.id}"][data-status="completed"]`).waitFor()
      expect(errors).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('a run page shows its steps as a timeline, its logs and its output', async () => {
    const [run] = await durably.getRuns({ jobName: 'import-orders', limit: 1 })
    const { context, page } = await light()
    try {
      await page.goto(dashboardUrl)
      await row(page, run!.id).locator('a').click()
      await page.locator('ol.timeline li[data-step="page-3"]').waitFor()
      const steps = await page
        .locator('ol.timeline li')
        .evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.step))
      expect(steps).toEqual(['page-1', 'page-2', 'page-3'])
      await expect(page.locator('table.logs').textContent()).resolves.toContain(
        'imported page 2 of november',
      )
      await expect(page.locator('pre[data-section="output"]').textContent()).resolves.toContain(
        '"imported": 3',
      )
      await shot(page, 'run-1280-light')
    } finally {
      await context.close()
    }
  })

  it('retrying a failed run from its page runs it again to completion', async () => {
    const run = await durably.getJob('send-invoice')!.trigger({ invoiceId: 'inv_7' })
    await waitUntil(async () => (await durably.getRun(run.id))?.status === 'failed', {
      what: 'the run to fail',
    })
    const { context, page } = await phoneDark()
    try {
      await page.goto(`${dashboardUrl}#/run/${run.id}`)
      await page.locator('pre[data-section="error"]').waitFor()
      await expect(page.locator('li[data-step="deliver"] .err').textContent()).resolves.toContain(
        'SMTP server said 421',
      )
      await shot(page, 'run-failed-phone-dark')
      await page.getByRole('button', { name: 'Retry' }).click()
      await page.locator('.actions[data-run-status="completed"]').waitFor({ timeout: 15_000 })
      await expect(page.locator('pre[data-section="output"]').textContent()).resolves.toBe('42')
      await shot(page, 'run-retried-phone-dark')
    } finally {
      await context.close()
    }
  })

  it('cancelling a running run from its page leaves it cancelled', async () => {
    const run = await durably.getJob('long-export')!.trigger({})
    await waitUntil(async () => (await durably.getRun(run.id))?.status === 'running', {
      what: 'the run to start',
    })
    const { context, page } = await light()
    try {
      await page.goto(`${dashboardUrl}#/run/${run.id}`)
      await page.locator('.actions[data-run-status="running"]').waitFor()
      await page.getByRole('button', { name: 'Cancel' }).click()
      await page.locator('.actions[data-run-status="cancelled"]').waitFor()
      expect((await durably.getRun(run.id))?.status).toBe('cancelled')
      await shot(page, 'run-cancelled-1280-light')
      // The worker stays in the step until it returns: let it go, so later runs start.
      hold.open()
    } finally {
      await context.close()
    }
  })

  it('deleting asks first, and keeping the run leaves it in place', async () => {
    const [run] = await durably.getRuns({ jobName: 'long-export', status: 'cancelled' })
    const { context, page } = await light()
    try {
      await page.goto(`${dashboardUrl}#/run/${run!.id}`)
      await page.getByRole('button', { name: 'Delete…' }).click()
      await page.getByRole('dialog').waitFor()
      await shot(page, 'run-delete-dialog-1280-light')
      await page.getByRole('button', { name: 'Keep it' }).click()
      expect(await durably.getRun(run!.id)).not.toBeNull()
      await page.getByRole('button', { name: 'Delete…' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click()
      await page.locator('h1', { hasText: 'Runs' }).waitFor()
      await waitUntil(async () => (await durably.getRun(run!.id)) === null, {
        what: 'the run to be deleted',
      })
    } finally {
      await context.close()
    }
  })

  it('works with the keyboard alone: find a run, open it, and back out of deleting it', async () => {
    const [run] = await durably.getRuns({ jobName: 'import-orders', limit: 1 })
    const { context, page } = await light()
    try {
      await page.goto(dashboardUrl)
      await page.locator('tr[data-run-id]').first().waitFor()
      // From the top of the page, Tab reaches the search field through the visible controls.
      let reached = false
      for (let presses = 0; presses < 12 && !reached; presses++) {
        await page.keyboard.press('Tab')
        reached = await page.evaluate(() => document.activeElement?.id === 'search')
      }
      expect(reached).toBe(true)
      await page.keyboard.type(run!.id)
      await page.keyboard.press('Enter')
      await page.locator('ol.timeline').waitFor()
      await page.getByRole('button', { name: 'Delete…' }).focus()
      await page.keyboard.press('Enter')
      await page.getByRole('dialog').waitFor()
      // The dialog starts on the harmless choice; Escape closes it without deleting.
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Keep it')
      await page.keyboard.press('Escape')
      await page.getByRole('dialog').waitFor({ state: 'detached' })
      expect(await durably.getRun(run!.id)).not.toBeNull()
    } finally {
      await context.close()
    }
  })

  it('the trigger form shows zod issues for a wrong input and starts a run for a right one', async () => {
    const { context, page } = await phoneDark()
    try {
      await page.goto(`${dashboardUrl}#/jobs`)
      const form = page.locator('form[data-job="greet"]')
      await form.waitFor()
      await form.locator('textarea').fill('{ "name": "", "times": 1.5 }')
      await form.getByRole('button', { name: 'Trigger' }).click()
      const issues = form.locator('ul.issues')
      await issues.waitFor()
      const text = await issues.textContent()
      expect(text).toContain('name:')
      expect(text).toContain('times:')
      await shot(page, 'jobs-invalid-phone-dark')
      await form.locator('textarea').fill('{ "name": "Ada", "times": 2 }')
      await form.getByRole('button', { name: 'Trigger' }).click()
      const link = form.locator('p.ok a')
      await link.waitFor()
      await link.click()
      await page.locator('.actions[data-run-status="completed"]').waitFor()
      await expect(page.locator('pre[data-section="output"]').textContent()).resolves.toContain(
        'hello Adahello Ada',
      )
    } finally {
      await context.close()
    }
  })

  it('the jobs page shows a schedule and its next ticks', async () => {
    const { context, page } = await light()
    try {
      await page.goto(`${dashboardUrl}#/jobs`)
      const nap = page.locator('section[data-job="nap"]')
      await nap.locator('ul.ticks li').first().waitFor()
      expect(await nap.locator('ul.ticks li').count()).toBeGreaterThan(1)
      await shot(page, 'jobs-1280-light')
    } finally {
      await context.close()
    }
  })

  it('a pending run says what it waits for, in words', async () => {
    const delayed = await durably.getJob('greet')!.trigger(
      { name: 'later', times: 1 },
      {
        delay: 3_600_000,
      },
    )
    const { context, page } = await light()
    try {
      await page.goto(dashboardUrl)
      await expect(row(page, delayed.id).locator('.wait').textContent()).resolves.toMatch(
        /^delayed until /,
      )
      // Every status is on the list by now: the overview the README shows.
      await page.screenshot({
        path: `${SHOTS}/runs-overview-1280-light.png`,
        clip: { x: 0, y: 0, width: 1280, height: 560 },
      })
    } finally {
      await context.close()
    }
  })

  it('a wait for an event, a child, a retry, a throttle, a debounce or a kind it does not know is said in words', async () => {
    const greet = durably.getJob('greet')!
    const soon = new Date(Date.now() + 60_000).toISOString()
    const waits = {
      event: { kind: 'event', step: 'approval', event: 'order/approved' },
      child: { kind: 'child', step: 'invoke', runId: 'child_run_1', jobName: 'greet' },
      unknown: { kind: 'telepathy', step: 'think' },
      retry: { kind: 'retry', attempt: 2, until: soon, error: 'boom' },
      throttle: { kind: 'throttle', key: 'greet', until: soon },
      debounce: { kind: 'debounce', key: 'greet', until: soon },
    }
    const ids: Record<string, string> = {}
    for (const [name, wait] of Object.entries(waits)) {
      const run = await greet.trigger({ name, times: 1 }, { delay: 3_600_000 })
      await database.exec('UPDATE durably_runs SET wait_for = ? WHERE id = ?', [
        JSON.stringify(wait),
        run.id,
      ])
      ids[name] = run.id
    }
    const { context, page } = await light()
    try {
      await page.goto(dashboardUrl)
      const words = (id: string) => row(page, id).locator('.wait').textContent()
      await row(page, ids.unknown!).waitFor()
      await expect(words(ids.event!)).resolves.toBe('waiting for event order/approved')
      await expect(words(ids.child!)).resolves.toBe('waiting for child run child_run_1')
      await expect(words(ids.unknown!)).resolves.toBe('waiting: telepathy')
      // A time is said as the clock shows it (with the date when it is not today).
      const at = '(\\d{4}-\\d\\d-\\d\\d )?\\d\\d:\\d\\d'
      await expect(words(ids.retry!)).resolves.toMatch(
        new RegExp(`^retrying at ${at} \\(attempt 2\\)$`),
      )
      await expect(words(ids.throttle!)).resolves.toMatch(new RegExp(`^throttled until ${at}$`))
      await expect(words(ids.debounce!)).resolves.toMatch(
        new RegExp(`^debounced: starts at ${at} unless triggered again$`),
      )
    } finally {
      await context.close()
    }
  })

  it('a 5 MB payload is cut in the list and on the run page, and shown whole on demand', async () => {
    const blob = 'x'.repeat(5 * 1024 * 1024)
    const run = await durably.getJob('bulk')!.trigger({ blob }, { delay: 3_600_000 })
    const { context, page } = await light()
    try {
      const listBodies: number[] = []
      page.on('response', async (response) => {
        if (response.url().includes('/runs?')) listBodies.push((await response.body()).length)
      })
      await page.goto(dashboardUrl)
      await row(page, run.id).waitFor()
      expect(Math.max(...listBodies)).toBeLessThan(1024 * 1024)
      const shown = await row(page, run.id).locator('.payload').textContent()
      expect(shown).toBe(`${JSON.stringify({ blob }).slice(0, 120)}…`)
      await row(page, run.id).locator('a').click()
      await expect(page.locator('pre[data-section="payload"]').textContent()).resolves.toHaveLength(
        4001,
      )
      await page.getByRole('button', { name: /^Show all/ }).click()
      const whole = page.locator('textarea[data-section="payload"]')
      await whole.waitFor()
      expect((await whole.inputValue()).length).toBeGreaterThan(blob.length)
      await page.screenshot({ path: `${SHOTS}/run-big-payload-1280-light.png` })
    } finally {
      await context.close()
    }
  })

  it('a run of a job this process does not know shows, with its actions', async () => {
    const other = createDurably({ ...FAST, dialect: database.secondDialect() }).register({
      ghost: defineJob({ name: 'ghost-job', input: z.object({}), run: async () => null }),
    })
    const run = await other.ghost.trigger({}, { delay: 3_600_000 })
    const { context, page } = await light()
    try {
      await page.goto(`${dashboardUrl}#/run/${run.id}`)
      await page.locator('.actions[data-run-status="pending"]').waitFor()
      await page.getByRole('button', { name: 'Cancel' }).click()
      await page.locator('.actions[data-run-status="cancelled"]').waitFor()
    } finally {
      await context.close()
      await other.destroy()
    }
  })

  it('a pending run says in words why it is not running (blockedBy)', async () => {
    // Another instance runs the flow-controlled jobs; the dashboard's own reads it from the
    // database, as it would a fleet of workers elsewhere.
    const flowHold = gate()
    const flow = createDurably({
      ...FAST,
      concurrency: 4,
      dialect: database.secondDialect(),
    }).register({
      tenantSync: defineJob({
        name: 'tenant-sync',
        input: z.object({ tenant: z.string(), n: z.number() }),
        concurrency: { limit: 2, key: (input: { tenant: string }) => input.tenant },
        run: async (step) => {
          await step.run('sync', () => flowHold.promise.then(() => 'synced'))
        },
      }),
      callApi: defineJob({
        name: 'call-api',
        input: z.object({ n: z.number() }),
        throttle: { limit: 1, period: 3_600_000 },
        run: async () => null,
      }),
      rebuildIndex: defineJob({
        name: 'rebuild-index',
        input: z.object({ reason: z.string() }),
        debounce: { period: 3_600_000 },
        run: async () => null,
      }),
    })
    // Registered, never started: no worker runs this job.
    const producer = createDurably({ ...FAST, dialect: database.secondDialect() }).register({
      report: defineJob({ name: 'nightly-report', input: z.object({}), run: async () => null }),
    })
    try {
      await flow.init()
      const syncs = []
      for (const n of [1, 2, 3])
        syncs.push(await flow.tenantSync.trigger({ tenant: 'tenant-a', n }))
      const throttled = [await flow.callApi.trigger({ n: 1 }), await flow.callApi.trigger({ n: 2 })]
      await flow.rebuildIndex.trigger({ reason: 'product renamed' })
      const debounced = await flow.rebuildIndex.trigger({ reason: 'price changed' })
      const orphan = await producer.report.trigger({})
      const blocked = async (id: string) => (await durably.getRun(id))?.blockedBy?.reason
      const waiting = syncs[2]!
      await waitUntil(async () => (await blocked(waiting.id)) === 'concurrency', {
        what: 'the third tenant-a run held back by the limit',
      })
      await waitUntil(async () => (await blocked(throttled[1]!.id)) === 'throttle', {
        what: 'the second call-api run throttled',
      })

      const { context, page } = await light()
      try {
        const words = async (id: string) => {
          await page.goto(`${dashboardUrl}#/run/${id}`)
          return page.locator('[data-blocked]').textContent()
        }
        expect(await words(waiting.id)).toBe(
          '2 of 2 running for tenant-a: it starts when one finishes',
        )
        await shot(page, 'run-blocked-concurrency-1280-light')
        // An hour ahead can fall on tomorrow, which the dashboard writes with its date.
        const at = String.raw`(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d`
        expect(await words(throttled[1]!.id)).toMatch(new RegExp(`^throttled until ${at}$`))
        await shot(page, 'run-blocked-throttle-1280-light')
        expect(await words(debounced.id)).toMatch(
          new RegExp(`^debounced: starts at ${at} unless triggered again$`),
        )
      } finally {
        await context.close()
      }
      const phone = await phoneDark()
      try {
        await phone.page.goto(`${dashboardUrl}#/run/${orphan.id}`)
        await expect(phone.page.locator('[data-blocked]').textContent()).resolves.toBe(
          'no worker has run this job recently',
        )
        await shot(phone.page, 'run-blocked-no-worker-phone-dark')
      } finally {
        await phone.context.close()
      }
    } finally {
      flowHold.open()
      await flow.destroy()
      await producer.destroy()
    }
  })

  it('the runs list pages through runs and filters by status and job', async () => {
    const greet = durably.getJob('greet')!
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        greet.trigger({ name: `n${i}`, times: 1 }, { delay: 3_600_000 }),
      ),
    )
    const { context, page } = await phoneDark()
    try {
      await page.goto(`${dashboardUrl}#/?job=greet&status=pending`)
      await page.locator('tbody tr[data-run-id]').first().waitFor()
      expect(await page.locator('tbody tr[data-run-id]').count()).toBe(50)
      const statuses = await page
        .locator('tbody tr[data-run-id]')
        .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.status))
      expect(new Set(statuses)).toEqual(new Set(['pending']))
      await shot(page, 'runs-phone-dark', false)
      await page.getByRole('button', { name: 'Older →' }).click()
      await page.locator('.pager', { hasText: 'Page 2' }).waitFor()
      expect(await page.locator('tbody tr[data-run-id]').count()).toBeGreaterThan(0)
      await page.fill('#search', 'no-such-run')
      await page.press('#search', 'Enter')
      await page.locator('#toast', { hasText: 'No run has the id no-such-run' }).waitFor()
    } finally {
      await context.close()
    }
  })

  it('the runs list pages to the last of 100,000 runs', async () => {
    const tiny = durably.getJob('tiny')!
    for (let chunk = 0; chunk < 100; chunk++) {
      await tiny.batchTrigger(
        Array.from({ length: 1000 }, (_, i) => ({
          input: { i: chunk * 1000 + i },
          options: { delay: 3_600_000 },
        })),
      )
    }
    const { context, page } = await light()
    try {
      await page.goto(`${dashboardUrl}#/?job=tiny&page=1999`)
      await page.locator('.pager', { hasText: 'Page 2000 · runs 99951–100000' }).waitFor()
      expect(await page.locator('tbody tr[data-run-id]').count()).toBe(50)
      expect(await page.getByRole('button', { name: 'Older →' }).isDisabled()).toBe(true)
      await page.getByRole('button', { name: '← Newer' }).click()
      await page.locator('.pager', { hasText: 'Page 1999' }).waitFor()
    } finally {
      await context.close()
    }
  }, 60_000)
})
